{
  "variables": {
    "have_dnnl": "<!(node -p \"['/usr/include/dnnl.hpp','/usr/include/oneapi/dnnl/dnnl.hpp','/usr/local/include/dnnl.hpp'].some(p=>require('fs').existsSync(p))?1:0\")",
    "have_zmq": "<!(node -p \"['/usr/include/zmq.h','/usr/local/include/zmq.h'].some(p=>require('fs').existsSync(p))?1:0\")"
  },
  "targets": [
    {
      "target_name": "voxring_comm",
      "sources": ["<!@(node -p \"require('fs').readdirSync('src/comm').filter(f=>f.endsWith('.cc')).map(f=>'src/comm/'+f).join(' ')\")"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O3", "-march=x86-64-v2", "-pthread"],
      "cflags_cc!": ["-fno-exceptions"],
      "ldflags": ["-pthread"],
      "conditions": [["have_zmq==1", {"defines": ["VOXRING_HAVE_ZMQ"], "libraries": ["-lzmq"]}]]
    }
  ],
  "conditions": [
    ["have_dnnl==1", {
      "targets": [
        {
          "target_name": "voxring_native",
          "sources": ["<!@(node -p \"require('fs').readdirSync('src').filter(f=>f.endsWith('.cc')).map(f=>'src/'+f).join(' ')\")"],
          "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
          "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
          "cflags_cc": ["-std=c++17", "-O3", "-march=x86-64-v2", "-fopenmp"],
          "cflags_cc!": ["-fno-exceptions"],
          "libraries": ["-ldnnl", "-fopenmp"]
        }
      ]
    }]
  ]
}
