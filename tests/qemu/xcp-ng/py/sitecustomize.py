# SPDX-License-Identifier: MIT
# Loaded by the patched qemu-wrapper under test: instead of exec'ing the
# device model, print the argv it would get, one item a line, and exit.
# (The wrapper has closed sys.stdout by then: write to fd 1.)
import os


def _fake_execve(path, args, env):
    out = "EXEC %s\n" % path + "".join("ARG %s\n" % a for a in args)
    os.write(1, out.encode())
    os._exit(0)


os.execve = _fake_execve
