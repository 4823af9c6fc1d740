"""Running the command line in the test's own process (fast: no new interpreter, no torch import)."""

from vit_edu.__main__ import main


def run_here(capsys, *args):
    """``python -m vit_edu ARGS`` as ``main(args)`` in this process -> (exit code, stdout, stderr).

    argparse reports bad arguments by exiting with 2; that exit code is returned like any other.
    """
    try:
        code = main([str(a) for a in args])
    except SystemExit as stop:
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err
