package io.roster.cli;

/** The exit codes of the {@code roster} command. */
final class Exit {
    /** Done; for {@code check}: no problem found. */
    static final int OK = 0;
    /** {@code check} found problems. */
    static final int PROBLEMS = 1;
    /** The registry cannot be reached or read within the timeout (refused credentials included). */
    static final int UNREACHABLE = 2;
    /** Bad arguments, such as an unknown option or a malformed registry URI (sysexits' EX_USAGE). */
    static final int USAGE = 64;
    /** A bug in the command itself (sysexits' EX_SOFTWARE). */
    static final int INTERNAL = 70;
    /** Stopped by Ctrl-C before it finished (128 + SIGINT, as shells report it). */
    static final int INTERRUPTED = 130;

    private Exit() {
    }
}
