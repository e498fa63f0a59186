"""Writes NIfTI files with nibabel for voxring's round-trip test, and reads back the files voxring wrote.

Usage: python3 niftiFixtures.py write DIR   -> DIR/<name>.nii[.gz] + DIR/<name>.f64 (expected scaled values,
                                                 file order) + DIR/manifest.json (affines, shapes)
       python3 niftiFixtures.py read FILE...  -> JSON on stdout: per file shape, dtype, affine, zooms and the
                                                 scaled values as a float64 file beside it (.nii[.gz] replaced by .f64)
"""
import json, sys
import numpy as np, nibabel as nib

rng = np.random.default_rng(7)
DTYPES = ["uint8", "int8", "int16", "uint16", "int32", "uint32", "float32", "float64"]


def rotation(ax, ay, az):
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def oblique(spacing, flip=False):
    a = np.eye(4)
    r = rotation(*rng.uniform(-0.4, 0.4, 3))
    if flip:
        r = r @ np.diag([1, 1, -1])
    a[:3, :3] = r @ np.diag(spacing)
    a[:3, 3] = rng.uniform(-100, 100, 3)
    return a


def values(dtype, shape):
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is None:
        return rng.normal(0, 1000, shape).astype(dtype)
    lo, hi = max(info.min, -100000), min(info.max, 100000)
    return rng.integers(lo, hi, shape, endpoint=True).astype(dtype)


def write(out):
    manifest = []
    def save(name, img, ext=".nii.gz"):
        path = f"{out}/{name}{ext}"
        nib.save(img, path)
        back = nib.load(path)
        np.asarray(back.get_fdata(dtype=np.float64)).ravel(order="F").tofile(f"{out}/{name}.f64")
        manifest.append({"name": name, "file": path, "shape": list(back.shape), "affine": back.affine.tolist(),
                         "zooms": [float(z) for z in back.header.get_zooms()[:3]]})
    for i, dt in enumerate(DTYPES):
        shape = (5, 4, 3) if i % 2 else (3, 5, 4, 2)
        for endian in "<>":
            hdr = nib.Nifti1Header(endianness=endian)
            img = nib.Nifti1Image(values(dt, shape), oblique((0.7, 0.8, 3.1), flip=i % 3 == 0), header=hdr)
            img.set_data_dtype(np.dtype(dt).newbyteorder(endian))
            save(f"{dt}_{'le' if endian == '<' else 'be'}", img, ".nii" if i % 4 == 1 else ".nii.gz")
    # scaling: int16 with slope and intercept
    img = nib.Nifti1Image(values("int16", (4, 3, 5)), oblique((1.0, 1.2, 2.0)))
    img.header.set_slope_inter(0.25, -17.5)
    save("int16_scaled", img)
    img = nib.Nifti1Image(values("uint8", (4, 3, 5)), oblique((1.0, 1.2, 2.0)))
    img.header.set_slope_inter(2.0, 3.0)
    save("uint8_scaled", img)
    # NIfTI-2, 3D and 4D, both endiannesses
    for endian in "<>":
        hdr = nib.Nifti2Header(endianness=endian)
        save(f"nifti2_4d_{endian == '<' and 'le' or 'be'}",
             nib.Nifti2Image(values("float32", (6, 5, 3, 2)), oblique((0.6, 0.6, 3.6)), header=hdr))
    save("nifti2_3d_int32", nib.Nifti2Image(values("int32", (4, 6, 3)), oblique((0.5, 0.5, 4.0))))
    # qform only, and no form at all (base affine from pixdim)
    img = nib.Nifti1Image(values("float32", (5, 4, 3)), None)
    img.set_qform(oblique((0.9, 0.9, 2.5), flip=True), code=1)
    img.set_sform(None, code=0)
    save("qform_only", img)
    img = nib.Nifti1Image(values("int16", (5, 4, 3)), None)
    img.header.set_zooms((0.9, 1.1, 2.5))
    img.set_qform(None, code=0)
    img.set_sform(None, code=0)
    save("no_form", img)
    json.dump(manifest, open(f"{out}/manifest.json", "w"))


def read(files):
    result = []
    for path in files:
        img = nib.load(path)
        base = path.removesuffix(".gz").removesuffix(".nii")
        np.asarray(img.get_fdata(dtype=np.float64)).ravel(order="F").tofile(base + ".f64")
        result.append({"file": path, "shape": list(img.shape), "dtype": str(img.get_data_dtype()),
                       "affine": img.affine.tolist(), "zooms": [float(z) for z in img.header.get_zooms()[:3]]})
    print(json.dumps(result))


if __name__ == "__main__":
    write(sys.argv[2]) if sys.argv[1] == "write" else read(sys.argv[2:])
