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
# The one nncore module the client reads: the allowed values and defaults of a training job,
# so --help says what the server accepts (same distribution; nothing else of nncore is used).
from nncore import choices
from nncore.choices import DEFAULTS

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
  nnctl train --hidden-sizes 512,256 --batch-norm --dropout 0.2 --weight-decay 1e-4 --wait
  nnctl jobs --state RUNNING
  nnctl predict MODEL digit.png --mnist-test 0
  nnctl plot JOB -o curves.png
  nnctl datasets upload mydata.zip --name mydata && nnctl train --dataset mydata --wait"""


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


def _alternatives(allowed, default: str) -> str:
    """ "adam (default) | sgd | ..." from nncore's list of allowed values."""
    return " | ".join(f"{v} (default)" if v == default else v for v in allowed)


def _sizes(text: str) -> list[int]:
    """ "512,256" -> [512, 256]."""
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 512,256; got {text!r}") from None
    if not sizes:
        raise argparse.ArgumentTypeError("expected at least one layer size, like 512,256")
    return sizes


def _train_options(parser: argparse.ArgumentParser) -> None:
    """Hyper-parameter flags; anything left out takes the server's default."""
    def add(flag, kind, text):
        parser.add_argument(flag, type=kind, default=None, help=text)

    add("--hidden-size", int, f"hidden units of a one-layer net (default {DEFAULTS['hidden_sizes'][0]})")
    add("--hidden-sizes", _sizes, "units of each hidden layer, e.g. 512,256 (not with --hidden-size)")
    parser.add_argument("--batch-norm", action="store_true", default=None,
                        help="batch normalisation after each hidden affine layer")
    add("--dropout", float, "dropout ratio of each hidden layer in [0, 1) (default 0: off)")
    add("--weight-decay", float, "L2 weight decay lambda >= 0 (default 0)")
    add("--epochs", int, f"passes over the training set (default {DEFAULTS['epochs']})")
    add("--optimizer", str, _alternatives(choices.OPTIMIZERS, DEFAULTS["optimizer"]))
    add("--activation", str, _alternatives(choices.ACTIVATIONS, DEFAULTS["activation"]))
    add("--weight-init", str, _alternatives(choices.WEIGHT_INITS, DEFAULTS["weight_init"])
        + " (auto suits the activation)")
    add("--learning-rate", float, "step size (default depends on the optimizer)")
    add("--batch-size", int, f"mini-batch size (default {DEFAULTS['batch_size']})")
    add("--seed", int, "random seed (default: drawn by the server and reported)")
    add("--train-size", int, "use only the first N training images (default all)")
    add("--eval-size", int, "images evaluated per epoch for the accuracies (default all)")
    add("--lr-schedule", str, _alternatives(choices.LR_SCHEDULES, DEFAULTS["lr_schedule"]))
    add("--sampling", str, _alternatives(choices.SAMPLINGS, DEFAULTS["sampling"]))
    add("--dataset", str, "mnist (default) | fashion-mnist | an uploaded dataset (nnctl datasets ls)")
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
    _dataset_commands(sub, common)
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
                      "classify images: PNG/JPEG pictures (made the model's HxW, white-on-black), .npy "
                      "arrays (one input or a batch, of the model's input shape, e.g. [28,28] or [N,784]) "
                      "or MNIST test images; prints class names when the model has them")
    predict.add_argument("model", metavar="MODEL")
    predict.add_argument("files", metavar="FILE", nargs="*", help="PNG/JPEG/.npy files")
    predict.add_argument("--mnist-test", type=int, action="append", metavar="I",
                         help="MNIST test image I (repeatable); its label is shown")
    predict.add_argument("--mnist-dir", default=None, metavar="DIR",
                         help="directory with t10k-*-ubyte[.gz] (env NNSVC_MNIST_DIR; default: the "
                              "copy shipped with nnservice)")
    command("health", commands.cmd_health, "check the server's health (exit 0 only if SERVING)").add_argument(
        "--service", default="", help="a service name, e.g. nnservice.v1.NNService (default: the server)")


def _dataset_commands(sub, common) -> None:
    """datasets upload | ls | show | rm."""
    text = "upload, list, show and delete datasets"
    datasets = sub.add_parser("datasets", parents=[common], help=text, description=text)
    actions = datasets.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name, handler, help_text):
        p = actions.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    upload = action("upload", commands.cmd_datasets_upload,
                    "upload a .npz, .csv, or .zip/.tar.gz of IDX files or of train.csv + test.csv")
    upload.add_argument("file", metavar="FILE")
    upload.add_argument("--name", required=True, help="the dataset's name: 1-64 of [A-Za-z0-9_-]")
    upload.add_argument("--format", choices=("npz", "csv", "zip", "tar.gz"), help="default: from FILE's name")
    upload.add_argument("--test-fraction", type=float, help="test split of a file without one (default 0.1)")
    upload.add_argument("--seed", type=int, help="shuffles that split (default 0)")
    upload.add_argument("--class-names", metavar="A,B,...", help="comma-separated, one per class")
    upload.add_argument("--no-progress", action="store_true", help="no progress bar")
    action("ls", commands.cmd_datasets_ls, "list datasets: built in, then uploaded")
    action("show", commands.cmd_datasets_show, "show one dataset").add_argument("name", metavar="NAME")
    action("rm", commands.cmd_datasets_rm, "delete an uploaded dataset").add_argument("name", metavar="NAME")


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
