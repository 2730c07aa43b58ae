"""nnctl: train, watch and query nnservice from the shell.

Exit status: 0 success; 1 an error (the server's message on stderr) or a job
that did not succeed; 2 bad usage; 3 the server cannot be reached.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

import grpc

from . import commands
from .errors import MissingExtraError, NNServiceError
from .sdk import DEFAULT_RECONNECT_SECONDS, NNClient
from .types import JOB_STATES

EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 2, 3, 130
DEFAULT_TARGET = "localhost:50051"

_EPILOG = """\
environment: NNSVC_TARGET (server), NNSVC_TOKEN (bearer token), NNSVC_MNIST_DIR (for --mnist-test).
exit status: 0 ok, 1 error or job not succeeded, 2 usage, 3 server unreachable.
examples:
  nnctl train --hidden-size 100 --epochs 5 --wait
  nnctl jobs --state RUNNING
  nnctl predict MODEL digit.png --mnist-test 0
  nnctl plot JOB -o curves.png"""


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """Connection/output flags, accepted before or after the sub-command."""
    def default(value):
        # Sub-parsers must not overwrite a value given before the sub-command.
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("connection and output")
    group.add_argument("--target", default=default(os.environ.get("NNSVC_TARGET", DEFAULT_TARGET)),
                       help=f"server HOST:PORT (env NNSVC_TARGET, default {DEFAULT_TARGET})")
    group.add_argument("--timeout", type=float, default=default(30.0), metavar="SECONDS",
                       help="deadline of each call (default 30; watch/wait have none)")
    group.add_argument("--json", action="store_true", default=default(False),
                       help="machine-readable JSON on stdout instead of tables")
    group.add_argument("--tls", action="store_true", default=default(False),
                       help="use TLS with the system's root certificates")
    group.add_argument("--tls-ca", type=Path, default=default(None), metavar="PEM",
                       help="CA certificate(s) to trust for the server (implies TLS)")
    group.add_argument("--tls-cert", type=Path, default=default(None), metavar="PEM",
                       help="client certificate chain for mutual TLS (with --tls-key)")
    group.add_argument("--tls-key", type=Path, default=default(None), metavar="PEM",
                       help="client private key for mutual TLS (with --tls-cert)")
    group.add_argument("--token", default=default(os.environ.get("NNSVC_TOKEN")),
                       help="bearer token sent as 'authorization: Bearer ...' (env NNSVC_TOKEN)")


def _train_options(parser: argparse.ArgumentParser) -> None:
    """Hyper-parameter flags; anything left out takes the server's default."""
    def add(flag, kind, text):
        parser.add_argument(flag, type=kind, default=None, help=text)

    add("--hidden-size", int, "hidden units (default 100)")
    add("--epochs", int, "passes over the training set (default 5)")
    add("--optimizer", str, "adam (default) | sgd | momentum | adagrad")
    add("--activation", str, "relu (default) | sigmoid")
    add("--weight-init", str, "he | xavier | std (default suits the activation)")
    add("--learning-rate", float, "step size (default depends on the optimizer)")
    add("--batch-size", int, "mini-batch size (default 100)")
    add("--seed", int, "random seed (default: drawn by the server and reported)")
    add("--train-size", int, "use only the first N training images (default all)")
    add("--eval-size", int, "images evaluated per epoch for the accuracies (default all)")
    add("--lr-schedule", str, "constant (default) | cosine")
    add("--sampling", str, "shuffle (default) | replacement")
    add("--dataset", str, "mnist (default)")
    add("--name", str, "free-text name, at most 200 characters")
    parser.add_argument("--wait", action="store_true", help="follow the job with a progress bar until it ends")
    parser.add_argument("--no-progress", action="store_true", help="with --wait: no progress bar")


def build_parser() -> argparse.ArgumentParser:
    """The nnctl argument parser with all sub-commands."""
    parser = argparse.ArgumentParser(
        prog="nnctl", description="Train, watch and query an nnservice server.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _global_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, suppress=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name, handler, text):
        p = sub.add_parser(name, parents=[common], help=text, description=text)
        p.set_defaults(handler=handler)
        return p

    _job_commands(command)
    _model_commands(command)
    return parser


def _job_commands(command) -> None:
    """train, status, watch, cancel, jobs and plot."""
    _train_options(command("train", commands.cmd_train, "queue a training job (optionally --wait for it)"))
    command("status", commands.cmd_status, "show a job's status and history").add_argument("job", metavar="JOB")
    watch = command("watch", commands.cmd_watch,
                    "follow a job until it ends (exit 0 only if it succeeded; --json: one line per update)")
    watch.add_argument("job", metavar="JOB")
    watch.add_argument("--no-progress", action="store_true", help="no progress bar")
    watch.add_argument("--reconnect", type=float, default=DEFAULT_RECONNECT_SECONDS, metavar="SECONDS",
                       help="when the server drains or restarts, keep reconnecting this long to follow "
                            "the job (default %(default)g; 0: exit at once)")
    command("cancel", commands.cmd_cancel, "ask a queued or running job to stop").add_argument("job", metavar="JOB")
    jobs = command("jobs", commands.cmd_jobs, "list jobs, newest first")
    jobs.add_argument("--state", type=str.upper, choices=JOB_STATES, help="only jobs in this state")
    jobs.add_argument("--limit", type=int, default=None, help="at most N jobs")
    plot = command("plot", commands.cmd_plot, "draw a job's loss and accuracy curves into a PNG")
    plot.add_argument("job", metavar="JOB")
    plot.add_argument("-o", "--output", default="curves.png", metavar="PNG", help="output file (default curves.png)")


def _model_commands(command) -> None:
    """models, model, predict and health."""
    command("models", commands.cmd_models, "list models, newest first").add_argument(
        "--limit", type=int, default=None, help="at most N models")
    command("model", commands.cmd_model, "show one model").add_argument("model", metavar="MODEL")
    predict = command("predict", commands.cmd_predict,
                      "classify digits: PNG/JPEG pictures (made 28x28 white-on-black), .npy arrays "
                      "([784], [28,28], [N,784] or [N,28,28]) or MNIST test images")
    predict.add_argument("model", metavar="MODEL")
    predict.add_argument("files", metavar="FILE", nargs="*", help="PNG/JPEG/.npy files")
    predict.add_argument("--mnist-test", type=int, action="append", metavar="I",
                         help="MNIST test image I (repeatable); its label is shown")
    predict.add_argument("--mnist-dir", default=None, metavar="DIR",
                         help="directory with t10k-*-ubyte[.gz] (env NNSVC_MNIST_DIR)")
    command("health", commands.cmd_health, "check the server's health (exit 0 only if SERVING)").add_argument(
        "--service", default="", help="a service name, e.g. nnservice.v1.NNService (default: the server)")


def make_client(args: argparse.Namespace) -> NNClient:
    """An NNClient from the global flags (PEM files are read here)."""
    def read(path: Optional[Path]) -> Optional[bytes]:
        return path.read_bytes() if path else None

    return NNClient(args.target, args.timeout, root_certificates=read(args.tls_ca),
                    private_key=read(args.tls_key), certificate_chain=read(args.tls_cert),
                    tls=args.tls, token=args.token or None)


def _report(error: NNServiceError, target: str) -> int:
    """Print an RPC error on stderr and choose the exit status."""
    if error.code == grpc.StatusCode.UNAVAILABLE:
        sys.stderr.write(f"nnctl: cannot reach the server at {target} ({error}); is it running? "
                         "Choose another with --target or NNSVC_TARGET.\n")
        return EXIT_UNREACHABLE
    hint = " (raise --timeout?)" if error.code == grpc.StatusCode.DEADLINE_EXCEEDED else ""
    sys.stderr.write(f"nnctl: {error}{hint}\n")
    return commands.EXIT_ERROR


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run nnctl with `argv` (default sys.argv[1:]) and return the exit status."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        with make_client(args) as client:
            return args.handler(client, args, sys.stdout, sys.stderr)
    except NNServiceError as error:
        return _report(error, args.target)
    except (MissingExtraError, ValueError, OSError, IndexError) as error:
        sys.stderr.write(f"nnctl: {error}\n")
        return commands.EXIT_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("nnctl: interrupted\n")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
