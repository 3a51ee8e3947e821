#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""saxpy on the vgpu device, one session: allocate two buffers, copy random
floats in, run the built-in op saxpy (y = alpha * x + y) on them, copy y
out, free the buffers, and check every element against plain Python
arithmetic (protocol.rst's tolerance for saxpy: 1e-6 relative). Then the
handles outlive the list: a second run reads x back by the handle the first
gave, frees it, and a third finds it freed (-EBADF, command 0). Last, the
device's properties as this VM sees them show the session empty.

    python3 saxpy.py [TARGET] [-n N] [--seed SEED]

TARGET is /dev/vgpuN in a guest or a VM's spool directory (default:
$VGPU_DEVICE, else /dev/vgpu0). Exits 0 when every check passed.
"""

import argparse
import array
import errno
import os
import random
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import vgpu  # noqa: E402  (python/vgpu.py, or an installed one)

TOL = 1e-6      # saxpy's tolerance, relative per element


def f32(x):
    """x rounded to binary32, as a Python float."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("target", nargs="?", help="/dev/vgpuN or a VM directory")
    ap.add_argument("-n", type=int, default=0, help="elements (default: random, 1..65536)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: the clock)")
    opt = ap.parse_args()

    seed = opt.seed if opt.seed is not None else time.time_ns()
    rng = random.Random(seed)
    print("# random seed %d (replay with --seed %d)" % (seed, seed))
    n = opt.n or rng.randint(1, 65536)
    alpha = f32(rng.uniform(-4, 4))
    x = array.array("f", (rng.uniform(-1, 1) for _ in range(n)))
    y = array.array("f", (rng.uniform(-1, 1) for _ in range(n)))
    if sys.byteorder != "little":
        x.byteswap()
        y.byteswap()
    nbytes = 4 * n
    alpha_bits = struct.unpack("<I", struct.pack("<f", alpha))[0]

    with vgpu.Device(opt.target) as dev:
        lst = vgpu.List()
        bx = lst.alloc(nbytes)                  # references to this list's
        by = lst.alloc(nbytes)                  # results: the buffers
        lst.copy_h2d(bx, x)
        lst.copy_h2d(by, y)
        t0 = lst.timestamp()
        lst.op(vgpu.OP_SAXPY, [n, alpha_bits], inputs=[bx, by], output=by)
        t1 = lst.timestamp()
        out = lst.copy_d2h(by, nbytes)
        lst.free(by)
        reply = dev.run(lst, timeout_ms=30000)

        got = array.array("f")
        got.frombytes(reply.output(out))
        if sys.byteorder != "little":
            got.byteswap()
            x.byteswap()
            y.byteswap()
        bad = 0
        for i in range(n):
            ref = f32(alpha * x[i] + y[i])
            err = abs(got[i] - ref)
            if err > (TOL * abs(ref) if ref else 1e-37):
                if bad < 5:
                    print("# y[%d] = %r, expected %r" % (i, got[i], ref))
                bad += 1
        print("# saxpy of %d floats, alpha %r: %d wrong; device time %d ns; %s" % (
            n, alpha, bad, reply.value(t1) - reply.value(t0), reply.message))

        # The handle of x outlives the list: read it back, free it, then
        # find it gone. The same list and reply objects are used again.
        hx = reply.value(bx)
        lst.reset()
        back = lst.copy_d2h(hx, nbytes)
        lst.free(hx)
        dev.run(lst, reply=reply)
        same = reply.output_view(back) == memoryview(x).cast("B")
        print("# x read back by handle %#x: %s" % (hx, "same" if same else "DIFFERENT"))
        lst.reset()
        lst.copy_d2h(hx, 4)
        try:
            dev.run(lst, reply=reply)
            gone = False
        except vgpu.Error as e:
            gone = e.errno == errno.EBADF and e.reply.failed == 0
            print("# a freed handle: %s" % e.strerror)
        info = dev.info()
        print("# VM %d, pool %s, priority %d" % (info["vm_id"], "AB"[info["pool"] & 1],
                                                 info["priority"]))
        # What the VM's session holds now: nothing (both buffers freed),
        # in the epoch that ran the lists above.
        props = dev.props()
        empty = props["mem_used"] == 0 and props["handles_used"] == 0 and \
            props["epoch"] == reply.info["epoch"] and props["total_mem"] > 0
        print("# %s (%s), %d multiprocessors, %d of %d bytes held, epoch %d" % (
            props["name"], "GPU" if props["flags"] & vgpu.PROPS_F_GPU else "CPU reference",
            props["multiprocessors"], props["mem_used"], props["total_mem"], props["epoch"]))
    ok = bad == 0 and same and gone and empty
    print("saxpy: %s" % ("ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
