"""zoo-board: TensorBoard on zoo's log root, bound to this machine only unless told otherwise.

zoo-board [--logdir logs/tensorboard] [--host 127.0.0.1] [--port 6006]
"""

import argparse
import socket
import subprocess
import sys
from pathlib import Path


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


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
    print(f"TensorBoard for {args.logdir} at http://{args.host}:{args.port}/ (Ctrl-C to stop)", flush=True)
    command = [
        sys.executable,
        "-m",
        "tensorboard.main",
        "--logdir",
        args.logdir,
        "--host",
        args.host,
        "--port",
        str(args.port),
    ]
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
