"""Write the sample data the featured notebooks read, into DIR:
sample.h5 (h5py: groups, attributes, a Zstd-compressed dataset through
hdf5plugin) and sample.nc (netCDF4, through xarray). The values come from a
fixed seed, so every hub serves the same files.

Usage: python make_samples.py DIR  (run with the HDF5 environment's Python)
"""
import pathlib
import sys

import h5py
import hdf5plugin
import numpy as np
import xarray as xr

SEED = 20260
DAYS, LAT, LON = 30, 18, 36


def temperature(rng):
    """A month of daily near-surface temperature (K) on a coarse global grid."""
    lat = np.linspace(-85, 85, LAT)
    lon = np.linspace(0, 350, LON)
    base = 288 - 40 * np.sin(np.deg2rad(lat)) ** 2
    daily = 3 * np.sin(np.arange(DAYS) * 2 * np.pi / DAYS)
    noise = rng.normal(0, 1.5, (DAYS, LAT, LON))
    return lat, lon, (base[None, :, None] + daily[:, None, None] + noise).astype("float32")


def write_hdf5(path, lat, lon, temp):
    with h5py.File(path, "w") as f:
        f.attrs["title"] = "hdfhub sample data"
        f.attrs["source"] = "synthetic, seed %d" % SEED
        grid = f.create_group("grid")
        grid.create_dataset("lat", data=lat).attrs["units"] = "degrees_north"
        grid.create_dataset("lon", data=lon).attrs["units"] = "degrees_east"
        t = f.create_dataset("climate/temperature", data=temp, chunks=(1, LAT, LON),
                             **hdf5plugin.Zstd(clevel=5))
        t.attrs["units"] = "K"
        t.attrs["dimensions"] = "day, lat, lon"
        stations = np.array([(b"Hamburg", 53.6, 10.0), (b"Boulder", 40.0, -105.3),
                             (b"Hobart", -42.9, 147.3)],
                            dtype=[("name", "S16"), ("lat", "f4"), ("lon", "f4")])
        f.create_dataset("stations", data=stations)


def write_netcdf(path, lat, lon, temp):
    ds = xr.Dataset(
        {"tas": (("time", "lat", "lon"), temp,
                 {"units": "K", "long_name": "near-surface air temperature"})},
        coords={"time": np.datetime64("2026-01-01") + np.arange(DAYS).astype("timedelta64[D]"),
                "lat": ("lat", lat, {"units": "degrees_north"}),
                "lon": ("lon", lon, {"units": "degrees_east"})},
        attrs={"title": "hdfhub sample data", "Conventions": "CF-1.8"})
    ds.to_netcdf(path, engine="netcdf4", encoding={"tas": {"zlib": True, "complevel": 4}})


def main(out):
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lat, lon, temp = temperature(np.random.default_rng(SEED))
    write_hdf5(out / "sample.h5", lat, lon, temp)
    # Written last: the role's `creates` looks for it.
    write_netcdf(out / "sample.nc", lat, lon, temp)


if __name__ == "__main__":
    main(sys.argv[1])
