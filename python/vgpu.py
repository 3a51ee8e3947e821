# SPDX-License-Identifier: MIT
"""vgpu: Python bindings of libvgpu.so.1, the vgpu client library (ctypes).

Open a target (/dev/vgpuN in a guest, or a VM's spool directory), build a
command list, run it and read the reply::

    import vgpu
    with vgpu.Device("/dev/vgpu0") as dev:
        lst = vgpu.List()
        buf = lst.alloc(4096)
        lst.copy_h2d(buf, bytes(range(256)) * 16)
        back = lst.copy_d2h(buf, 4096)
        lst.free(buf)
        reply = dev.run(lst)
        assert reply.output(back) == bytes(range(256)) * 16

Everything maps one to one onto include/vgpu/vgpu.h (libvgpu(3)); the
commands and their errors are Documentation/protocol.rst's. A failing call
raises vgpu.Error, an OSError whose errno is the library's and whose
strerror is its message; a run whose command failed raises it with the
reply attached (error.reply), so the results before it can be read.

The library is found as libvgpu.so.1, or where $VGPU_LIBRARY points. A
Device may be shared by threads (ctypes releases the GIL during a run);
a List and a Reply belong to one thread at a time.
"""

import ctypes
import errno as _errno
import os

__all__ = ["Device", "List", "Reply", "Error", "library_version"]

# enum vgpu_op of <misc/vgpu.h>: the built-in ops (protocol.rst "Operations").
OP_NOOP = 0
OP_VECTOR_ADD = 1
OP_SAXPY = 2
OP_SGEMM = 3
OP_REDUCE_SUM = 4
OP_CHECKSUM = 5
OP_GEMM_BF16 = 6
OP_SPIN = 7

# enum vgpu_cmd_code of <vgpu/vgpu.h>.
CMD_ALLOC = 1
CMD_FREE = 2
CMD_MEMSET = 3
CMD_COPY_H2D = 4
CMD_COPY_D2H = 5
CMD_COPY_D2D = 6
CMD_MODULE_LOAD = 7
CMD_MODULE_UNLOAD = 8
CMD_MODULE_DESCRIBE = 9
CMD_LAUNCH = 10
CMD_OP = 11
CMD_TIMESTAMP = 12
CMD_DEVICE_INFO = 13
CMD_MODULE_GLOBAL = 14

WHY_LEN = 128
NR_ARGS = 4
DEVICE_F_SPOOL = 1 << 0
DEVICE_F_ASSIGNED = 1 << 1
DEVICE_F_AGENT = 1 << 2
PROPS_F_GPU = 1 << 0
PROPS_F_COOPERATIVE = 1 << 1
PROPS_F_CONCURRENT_KERNELS = 1 << 2
PROPS_F_ECC = 1 << 3
REPLY_F_ANSWERED = 1 << 0
REPLY_F_LOG_TRUNCATED = 1 << 1
LAUNCH_F_COOPERATIVE = 1 << 0

_u32, _i32, _u64 = ctypes.c_uint32, ctypes.c_int32, ctypes.c_uint64
_p = ctypes.c_void_p


class _DeviceInfo(ctypes.Structure):
    _fields_ = [("argsz", _u32), ("flags", _u32), ("vm_id", _u32), ("pool", _u32),
                ("priority", _u32), ("api_version", _u32), ("max_job_bytes", _u64)]


class _DeviceProps(ctypes.Structure):
    _fields_ = [("argsz", _u32), ("flags", _u32), ("name", ctypes.c_char * 256),
                ("uuid", ctypes.c_uint8 * 16), ("cc_major", _u32), ("cc_minor", _u32),
                ("multiprocessors", _u32), ("warp_size", _u32), ("total_mem", _u64),
                ("mem_used", _u64), ("module_quota", _u64), ("module_used", _u64),
                ("handle_quota", _u32), ("handles_used", _u32), ("clock_khz", _u32),
                ("mem_clock_khz", _u32), ("mem_bus_width", _u32), ("l2_bytes", _u32),
                ("max_threads_per_block", _u32), ("max_block", _u32 * 3),
                ("max_grid", _u32 * 3), ("shared_per_block", _u32),
                ("shared_per_block_optin", _u32), ("shared_per_sm", _u32),
                ("regs_per_block", _u32), ("regs_per_sm", _u32), ("max_threads_per_sm", _u32),
                ("max_blocks_per_sm", _u32), ("const_bytes", _u32), ("time_limit_ms", _u32),
                ("epoch", _u32), ("reserved", _u32), ("lists_run", _u64)]


class _Patch(ctypes.Structure):
    _fields_ = [("param_off", _u32), ("reserved", _u32), ("buf", _u64), ("off", _u64)]


class _Launch(ctypes.Structure):
    _fields_ = [("argsz", _u32), ("flags", _u32), ("module", _u64), ("name", ctypes.c_char_p),
                ("grid", _u32 * 3), ("block", _u32 * 3), ("shared_bytes", _u32),
                ("param_len", _u32), ("params", _p), ("patches", ctypes.POINTER(_Patch)),
                ("npatches", _u32), ("reserved", _u32)]


class _ReplyInfo(ctypes.Structure):
    _fields_ = [("argsz", _u32), ("flags", _u32), ("status", _i32), ("failed", _i32),
                ("ncmds", _u32), ("nrun", _u32), ("epoch", _u32), ("log_len", _u32),
                ("queued_ns", _u64), ("started_ns", _u64), ("finished_ns", _u64)]


class _CmdResult(ctypes.Structure):
    _fields_ = [("argsz", _u32), ("code", _u32), ("status", _i32), ("reserved", _u32),
                ("value", _u64), ("out", _p), ("out_len", _u64)]


def _load():
    lib = ctypes.CDLL(os.environ.get("VGPU_LIBRARY") or "libvgpu.so.1", use_errno=False)
    P, PP, S = ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p
    U64P, A4 = ctypes.POINTER(_u64), _u64 * NR_ARGS
    protos = {
        "vgpu_version": (S, []),
        "vgpu_open": (ctypes.c_int, [S, PP, S]),
        "vgpu_close": (None, [P]),
        "vgpu_device_info": (ctypes.c_int, [P, ctypes.POINTER(_DeviceInfo), S]),
        "vgpu_device_props": (ctypes.c_int, [P, ctypes.POINTER(_DeviceProps), ctypes.c_uint, S]),
        "vgpu_call_op": (ctypes.c_int, [P, _u32, A4, P, _u64, P, _u64, U64P, ctypes.c_uint, S]),
        "vgpu_op_bytes": (ctypes.c_int, [_u32, A4, U64P, U64P, S]),
        "vgpu_list_new": (ctypes.c_int, [PP]),
        "vgpu_list_free": (None, [P]),
        "vgpu_list_reset": (None, [P]),
        "vgpu_list_count": (_u32, [P]),
        "vgpu_list_bytes": (_u64, [P]),
        "vgpu_list_out_bytes": (_u64, [P]),
        "vgpu_list_set_out_bytes": (None, [P, _u64]),
        "vgpu_list_error": (ctypes.c_int, [P, S]),
        "vgpu_cmd_alloc": (ctypes.c_int, [P, _u64, U64P]),
        "vgpu_cmd_free": (ctypes.c_int, [P, _u64, U64P]),
        "vgpu_cmd_memset": (ctypes.c_int, [P, _u64, _u64, _u64, ctypes.c_uint, U64P]),
        "vgpu_cmd_copy_h2d": (ctypes.c_int, [P, _u64, _u64, P, _u64, U64P]),
        "vgpu_cmd_copy_d2h": (ctypes.c_int, [P, _u64, _u64, _u64, U64P]),
        "vgpu_cmd_copy_d2d": (ctypes.c_int, [P, _u64, _u64, _u64, _u64, _u64, U64P]),
        "vgpu_cmd_module_load": (ctypes.c_int, [P, P, _u64, U64P]),
        "vgpu_cmd_module_unload": (ctypes.c_int, [P, _u64, U64P]),
        "vgpu_cmd_module_describe": (ctypes.c_int, [P, _u64, U64P]),
        "vgpu_cmd_launch": (ctypes.c_int, [P, ctypes.POINTER(_Launch), U64P]),
        "vgpu_cmd_op": (ctypes.c_int, [P, _u32, A4, _u64 * 3, _u64 * 3, U64P]),
        "vgpu_cmd_timestamp": (ctypes.c_int, [P, U64P]),
        "vgpu_reply_new": (ctypes.c_int, [PP]),
        "vgpu_reply_free": (None, [P]),
        "vgpu_run": (ctypes.c_int, [P, P, P, ctypes.c_uint, S]),
        "vgpu_reply_info": (ctypes.c_int, [P, ctypes.POINTER(_ReplyInfo)]),
        "vgpu_reply_message": (S, [P]),
        "vgpu_reply_log": (P, [P, ctypes.POINTER(ctypes.c_size_t)]),
        "vgpu_reply_get": (ctypes.c_int, [P, _u64, ctypes.POINTER(_CmdResult)]),
        "vgpu_reply_value": (_u64, [P, _u64]),
        "vgpu_reply_output": (P, [P, _u64, U64P]),
    }
    for name, (res, args) in protos.items():
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args
    return lib


_lib = _load()


def library_version():
    """The version of the libvgpu that was loaded."""
    return _lib.vgpu_version().decode()


class Error(OSError):
    """A libvgpu call failed: errno is the -errno it returned (positive here),
    strerror its message; reply is the Reply of a run that got one."""

    def __init__(self, err, message, reply=None):
        super().__init__(err, message)
        self.reply = reply


def _why():
    return ctypes.create_string_buffer(WHY_LEN)


def _check(rc, why, reply=None):
    if rc:
        msg = why.value.decode("ascii", "replace") if why is not None else os.strerror(-rc)
        raise Error(-rc, msg, reply)


def _args(args):
    a = list(args or ())
    if len(a) > NR_ARGS:
        raise ValueError("an op takes at most %d arguments" % NR_ARGS)
    return (_u64 * NR_ARGS)(*(a + [0] * (NR_ARGS - len(a))))


def _bytes_arg(data):
    """(pointer, length, keepalive) of a bytes-like object, without a copy
    where the object is writable (bytearray, array, memoryview of those)."""
    if isinstance(data, bytes):
        cp = ctypes.c_char_p(data)      # points into the bytes object itself
        return ctypes.cast(cp, ctypes.c_void_p), len(data), (cp, data)
    mv = memoryview(data).cast("B")
    if mv.readonly:
        buf = ctypes.create_string_buffer(mv.tobytes(), len(mv))
    else:
        buf = (ctypes.c_char * len(mv)).from_buffer(mv)
    return ctypes.cast(buf, ctypes.c_void_p), len(mv), buf


class Device:
    """An open target: /dev/vgpuN, or a VM's spool directory (None:
    $VGPU_DEVICE, else /dev/vgpu0)."""

    def __init__(self, target=None):
        self._h = ctypes.c_void_p()
        why = _why()
        t = None if target is None else os.fsencode(target)
        _check(_lib.vgpu_open(t, ctypes.byref(self._h), why), why)

    def close(self):
        if self._h:
            _lib.vgpu_close(self._h)
            self._h = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def info(self):
        """A dict: flags, vm_id, pool, priority, api_version, max_job_bytes."""
        i = _DeviceInfo(argsz=ctypes.sizeof(_DeviceInfo))
        why = _why()
        _check(_lib.vgpu_device_info(self._h, ctypes.byref(i), why), why)
        return {f: getattr(i, f) for f, _ in _DeviceInfo._fields_ if f != "argsz"}

    def props(self, timeout_ms=0):
        """A dict: the GPU as this VM sees it (struct vgpu_device_props: name,
        compute capability, its pool's multiprocessors, its memory quota as
        total_mem and its use, limits, the session's epoch); a one-command
        job, which starts the VM's session if it has none. name is a str,
        uuid bytes, max_block and max_grid tuples."""
        p = _DeviceProps(argsz=ctypes.sizeof(_DeviceProps))
        why = _why()
        _check(_lib.vgpu_device_props(self._h, ctypes.byref(p), timeout_ms, why), why)
        d = {}
        for f, _ in _DeviceProps._fields_:
            v = getattr(p, f)
            if f in ("argsz", "reserved"):
                continue
            if f == "name":
                v = v.decode("utf-8", "replace")
            elif f == "uuid":
                v = bytes(v)
            elif f in ("max_block", "max_grid"):
                v = tuple(v)
            d[f] = v
        return d

    def call_op(self, op, args, data=b"", out_len=None, timeout_ms=0):
        """Run built-in op @op on @data; returns its output as bytes."""
        a = _args(args)
        if out_len is None:
            out_len = op_bytes(op, args)[1]
        ptr, n, keep = _bytes_arg(data) if len(data) else (None, 0, None)
        out = ctypes.create_string_buffer(max(out_len, 1))
        got = _u64()
        why = _why()
        _check(_lib.vgpu_call_op(self._h, op, a, ptr, n, out, out_len, ctypes.byref(got),
                                 timeout_ms, why), why)
        del keep
        return out.raw[:got.value]

    def run(self, lst, timeout_ms=0, reply=None, check=True):
        """Run List @lst and return its Reply (@reply reused if given). With
        @check, a failed list raises Error carrying the reply."""
        reply = reply or Reply()
        why = _why()
        rc = _lib.vgpu_run(self._h, lst._h, reply._h, timeout_ms, why)
        if check:
            _check(rc, why, reply)
        return reply


def op_bytes(op, args):
    """(input bytes, output bytes) that op @op takes with @args."""
    i, o = _u64(), _u64()
    why = _why()
    _check(_lib.vgpu_op_bytes(op, _args(args), ctypes.byref(i), ctypes.byref(o), why), why)
    return i.value, o.value


class List:
    """A command list. Each command method returns its reference: the
    buffer or module it creates (alloc, module_load) for later commands of
    this list, and the key of its result in the Reply."""

    def __init__(self):
        self._h = ctypes.c_void_p()
        rc = _lib.vgpu_list_new(ctypes.byref(self._h))
        if rc:
            raise Error(-rc, os.strerror(-rc))

    def __del__(self):
        if self._h:
            _lib.vgpu_list_free(self._h)
            self._h = ctypes.c_void_p()

    def __len__(self):
        return _lib.vgpu_list_count(self._h)

    @property
    def nbytes(self):
        """The list's wire bytes so far (the job's input)."""
        return _lib.vgpu_list_bytes(self._h)

    @property
    def out_bytes(self):
        """The reply room a run asks for (the job's output)."""
        return _lib.vgpu_list_out_bytes(self._h)

    @out_bytes.setter
    def out_bytes(self, n):
        _lib.vgpu_list_set_out_bytes(self._h, n or 0)

    def reset(self):
        _lib.vgpu_list_reset(self._h)

    def _add(self, fn, *args):
        ref = _u64()
        if fn(self._h, *args, ctypes.byref(ref)):
            why = _why()
            rc = _lib.vgpu_list_error(self._h, why)
            _check(rc or -_errno.EINVAL, why)
        return ref.value

    def alloc(self, size):
        return self._add(_lib.vgpu_cmd_alloc, size)

    def free(self, buf):
        return self._add(_lib.vgpu_cmd_free, buf)

    def memset(self, buf, length, value=0, off=0):
        return self._add(_lib.vgpu_cmd_memset, buf, off, length, value)

    def copy_h2d(self, buf, data, off=0):
        ptr, n, keep = _bytes_arg(data) if len(data) else (None, 0, None)
        ref = self._add(_lib.vgpu_cmd_copy_h2d, buf, off, ptr, n)
        del keep        # copied into the list
        return ref

    def copy_d2h(self, buf, length, off=0):
        return self._add(_lib.vgpu_cmd_copy_d2h, buf, off, length)

    def copy_d2d(self, dst, src, length, dst_off=0, src_off=0):
        return self._add(_lib.vgpu_cmd_copy_d2d, dst, dst_off, src, src_off, length)

    def module_load(self, image):
        ptr, n, keep = _bytes_arg(image)
        ref = self._add(_lib.vgpu_cmd_module_load, ptr, n)
        del keep
        return ref

    def module_unload(self, module):
        return self._add(_lib.vgpu_cmd_module_unload, module)

    def module_describe(self, module):
        return self._add(_lib.vgpu_cmd_module_describe, module)

    def launch(self, module, name, grid, block, params=b"", patches=(), shared_bytes=0,
               cooperative=False):
        """Launch kernel @name: @grid and @block are 3-tuples (or ints),
        @params the parameter bytes in device layout, @patches a sequence of
        (param_off, buf, off) whose device addresses are written there."""
        def dim3(d):
            d = (d,) if isinstance(d, int) else tuple(d)
            return (_u32 * 3)(*(d + (1,) * (3 - len(d))))
        pp, plen, keep = _bytes_arg(params) if len(params) else (None, 0, None)
        pa = (_Patch * max(len(patches), 1))(*[_Patch(o, 0, b, bo) for o, b, bo in patches])
        la = _Launch(argsz=ctypes.sizeof(_Launch),
                     flags=LAUNCH_F_COOPERATIVE if cooperative else 0, module=module,
                     name=name.encode() if isinstance(name, str) else name,
                     grid=dim3(grid), block=dim3(block), shared_bytes=shared_bytes,
                     param_len=plen, params=pp, patches=pa, npatches=len(patches))
        ref = self._add(_lib.vgpu_cmd_launch, ctypes.byref(la))
        del keep
        return ref

    def op(self, op, args, inputs=(), output=None):
        """Built-in op @op on device buffers: @inputs up to two buffers (or
        (buffer, offset) pairs), @output one."""
        def pair(x):
            return (0, 0) if x is None else (x if isinstance(x, tuple) else (x, 0))
        slots = [pair(x) for x in list(inputs)[:2]]
        slots += [(0, 0)] * (2 - len(slots)) + [pair(output)]
        bufs = (_u64 * 3)(*[b for b, _ in slots])
        offs = (_u64 * 3)(*[o for _, o in slots])
        return self._add(_lib.vgpu_cmd_op, op, _args(args), bufs, offs)

    def timestamp(self):
        return self._add(_lib.vgpu_cmd_timestamp)


class Result:
    """One command's result: code, status (0, -errno, or -ECANCELED: it did
    not run), value (a handle, or ns) and output (bytes)."""

    def __init__(self, code, status, value, output):
        self.code, self.status, self.value, self.output = code, status, value, output

    def __repr__(self):
        return "Result(code=%d, status=%d, value=%#x, output=%d bytes)" % (
            self.code, self.status, self.value, len(self.output))


class Reply:
    """The reply to a run, reused from run to run."""

    def __init__(self):
        self._h = ctypes.c_void_p()
        rc = _lib.vgpu_reply_new(ctypes.byref(self._h))
        if rc:
            raise Error(-rc, os.strerror(-rc))

    def __del__(self):
        if self._h:
            _lib.vgpu_reply_free(self._h)
            self._h = ctypes.c_void_p()

    def _info(self):
        i = _ReplyInfo(argsz=ctypes.sizeof(_ReplyInfo))
        _lib.vgpu_reply_info(self._h, ctypes.byref(i))
        return i

    @property
    def info(self):
        """A dict of struct vgpu_reply_info's fields."""
        i = self._info()
        return {f: getattr(i, f) for f, _ in _ReplyInfo._fields_ if f != "argsz"}

    @property
    def status(self):
        return self._info().status

    @property
    def failed(self):
        """The failing command's index, or None."""
        f = self._info().failed
        return None if f < 0 else f

    @property
    def message(self):
        return _lib.vgpu_reply_message(self._h).decode("ascii", "replace")

    @property
    def log(self):
        """The device's printf/assert text."""
        n = ctypes.c_size_t()
        p = _lib.vgpu_reply_log(self._h, ctypes.byref(n))
        return ctypes.string_at(p, n.value).decode("utf-8", "replace") if n.value else ""

    def __getitem__(self, cmd):
        r = _CmdResult(argsz=ctypes.sizeof(_CmdResult))
        rc = _lib.vgpu_reply_get(self._h, cmd, ctypes.byref(r))
        if rc:
            raise IndexError("no command %#x in the list that ran" % cmd)
        out = ctypes.string_at(r.out, r.out_len) if r.out_len else b""
        return Result(r.code, r.status, r.value, out)

    def value(self, cmd):
        """Command @cmd's value: the handle it made, or its ns."""
        return _lib.vgpu_reply_value(self._h, cmd)

    def output(self, cmd):
        """Command @cmd's output bytes (a copy; see output_view)."""
        n = _u64()
        p = _lib.vgpu_reply_output(self._h, cmd, ctypes.byref(n))
        return ctypes.string_at(p, n.value) if n.value else b""

    def output_view(self, cmd):
        """Command @cmd's output as a memoryview into the reply, without a
        copy: valid until the reply is run into again or freed."""
        n = _u64()
        p = _lib.vgpu_reply_output(self._h, cmd, ctypes.byref(n))
        if not n.value:
            return memoryview(b"")
        return memoryview((ctypes.c_char * n.value).from_address(p)).cast("B")
