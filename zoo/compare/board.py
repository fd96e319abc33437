"""zoo-board: TensorBoard on zoo's log root, bound to this machine only unless told otherwise.

zoo-board [--logdir logs/tensorboard] [--host 127.0.0.1] [--port 6006]

It brings the HPARAMS columns of the log folder up to date before TensorBoard starts (a run deleted since, say), and
stops its TensorBoard when it is stopped itself: Ctrl-C, `kill <pid>` (SIGTERM), a closed terminal (SIGHUP), and on
Linux even `kill -9`.
"""

import argparse
import ctypes
import signal
import socket
import subprocess
import sys
from pathlib import Path

STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def port_is_free(host: str, port: int) -> bool:
    """Whether nothing listens on `port`. As TensorBoard binds it (SO_REUSEADDR), so that the closed connections of
    a TensorBoard just stopped (TIME_WAIT, a minute) do not keep zoo-board from starting again on its port."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        if sys.platform != "win32":  # on Windows the option lets two sockets share a port
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def end_with_parent() -> None:
    """In the child, before TensorBoard starts (Linux): the kernel sends it SIGTERM when zoo-board dies, however."""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def serve(command: list[str]) -> int:
    """Run TensorBoard until it exits or zoo-board is told to stop, and then stop it: its exit status, 0 when
    stopped."""

    def stop(signum, frame) -> None:
        raise KeyboardInterrupt

    previous = {signum: signal.signal(signum, stop) for signum in STOPPING}
    board = subprocess.Popen(command, preexec_fn=end_with_parent)
    try:
        return board.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if board.poll() is None:
            board.terminate()
            try:
                board.wait(timeout=10)
            except subprocess.TimeoutExpired:
                board.kill()
                board.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="zoo-board", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--logdir", default="logs/tensorboard", help="the TensorBoard root (paths.log_dir/tensorboard)")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on; 0.0.0.0 exposes it to the network")
    parser.add_argument("--port", type=int, default=6006)
    args = parser.parse_args(argv)

    if not Path(args.logdir).is_dir():
        print(
            f"note: {args.logdir} does not exist yet; runs will appear once `python train.py` writes them",
            file=sys.stderr,
        )
    if not port_is_free(args.host, args.port):
        print(
            f"error: port {args.port} on {args.host} is taken (another TensorBoard?); "
            f"pass --port with a free one, e.g. --port {args.port + 1}",
            file=sys.stderr,
        )
        return 1
    if Path(args.logdir).is_dir():
        from zoo.runs.hparams_tab import update_experiment

        try:
            update_experiment(Path(args.logdir))
        except OSError as error:  # a folder zoo-board may read but not write: TensorBoard shows it all the same
            print(f"note: could not bring the HPARAMS columns of {args.logdir} up to date: {error}", file=sys.stderr)
    print(f"TensorBoard for {args.logdir} at http://{args.host}:{args.port}/ (Ctrl-C to stop)", flush=True)
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", args.logdir]
    return serve([*command, "--host", args.host, "--port", str(args.port)])


if __name__ == "__main__":
    sys.exit(main())
