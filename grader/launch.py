"""The trusted first step of every sandboxed child: limits, then identity, then exec.

    python -I -S -B launch.py SPEC.marshal -- PROGRAM ARGS...

Runs with the grader's rights, before any student code exists in the process:

1. sets the resource limits (memory, CPU, file size, open files, core dumps,
   and the number of processes of the child's uid);
2. in the `uid` mode (root without bubblewrap): enters the child's chroot jail,
   drops every group, switches to the child's unprivileged uid/gid, forbids
   regaining privileges (no_new_privs) and installs a seccomp filter that
   refuses to create sockets;
3. replaces itself with PROGRAM (bwrap, or the Python runner).

`python -I -S -B launch.py --kill UID` instead sends SIGKILL to every process
of UID (as UID, so nothing else can be hit): what the `uid` mode runs after
each child, so nothing a submission started outlives its run.

Standard library only; no student code ever imports or runs before step 3.
It starts before every child, so it imports only what the bwrap mode needs
(the spec is the grader's own marshal data: no json, no re).
"""

from __future__ import annotations

import marshal
import os
import resource
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_KILL_PROCESS = 0x80000000
EACCES = 13
# (audit arch, socket() number, highest ordinary syscall number) per machine.
ARCHES = {
    "x86_64": (0xC000003E, 41, 0x3FFFFFFF),
    "aarch64": (0xC00000B7, 198, 0xFFFFFFFF),
}


def set_limits(limits: dict[str, int]) -> None:
    for name, value in limits.items():
        kind = getattr(resource, name)
        _soft, hard = resource.getrlimit(kind)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value))


def _bpf(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    import struct

    return struct.pack("HBBI", code, jt, jf, k)


def seccomp_no_sockets() -> None:
    """A seccomp filter: socket() fails with EACCES; a foreign ABI kills the process."""
    import ctypes
    import platform
    import struct

    arch = ARCHES.get(platform.machine())
    if arch is None:
        raise OSError(f"no seccomp filter for {platform.machine()}: refusing to run untrusted code")
    audit_arch, nr_socket, top = arch
    ld_w_abs, jeq, jgt, ret = 0x20, 0x15, 0x25, 0x06
    prog = b"".join(
        [
            _bpf(ld_w_abs, 4),  # seccomp_data.arch
            _bpf(jeq, audit_arch, 1, 0),
            _bpf(ret, SECCOMP_RET_KILL_PROCESS),
            _bpf(ld_w_abs, 0),  # seccomp_data.nr
            _bpf(jgt, top, 0, 1),  # x32 and other aliases
            _bpf(ret, SECCOMP_RET_KILL_PROCESS),
            _bpf(jeq, nr_socket, 0, 1),
            _bpf(ret, SECCOMP_RET_ERRNO | EACCES),
            _bpf(ret, SECCOMP_RET_ALLOW),
        ]
    )
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    buffer = ctypes.create_string_buffer(prog)
    fprog = struct.pack("HxxxxxxQ" if struct.calcsize("P") == 8 else "HxxI", len(prog) // 8, ctypes.addressof(buffer))
    fbuf = ctypes.create_string_buffer(fprog)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fbuf), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")


def become(jail: str, uid: int, gid: int, workdir: str) -> None:
    """Enter the jail and drop to the unprivileged uid/gid for good."""
    os.chroot(jail)
    os.chdir(workdir)
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid or os.getgid() != gid:
        raise OSError("could not drop privileges")


def kill_all(uid: int) -> None:
    """SIGKILL every process of `uid`, signalling as that uid (kill(-1) spares the caller)."""
    import contextlib
    import signal

    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(-1, signal.SIGKILL)


def main(argv: list[str]) -> None:
    if argv[0] == "--kill":
        kill_all(int(argv[1]))
        return
    with open(argv[0], "rb") as f:
        spec = marshal.load(f)
    program = argv[argv.index("--") + 1 :]
    set_limits(spec["limits"])
    if spec.get("jail"):
        become(spec["jail"], spec["uid"], spec["gid"], spec["workdir"])
        seccomp_no_sockets()
    elif spec.get("workdir"):
        os.chdir(spec["workdir"])
    os.execve(program[0], program, spec["env"])


if __name__ == "__main__":
    main(sys.argv[1:])
