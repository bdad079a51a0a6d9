package io.roster.cli;

import java.util.Map;

/**
 * Where the output goes: whether a person is watching (progress on stderr) and whether colours are wanted.
 *
 * @param interactive whether the command runs on a terminal ({@link System#console()})
 * @param color whether to colour the output: on a terminal, unless {@code NO_COLOR} is set (no-color.org)
 */
record Terminal(boolean interactive, boolean color) {

    /** Neither a terminal nor colours: what scripts and tests get. */
    static final Terminal PLAIN = new Terminal(false, false);

    /** What this process runs on. */
    static Terminal detect() {
        return of(System.console() != null, System.getenv());
    }

    static Terminal of(boolean interactive, Map<String, String> env) {
        String noColor = env.get("NO_COLOR");
        return new Terminal(interactive, interactive && (noColor == null || noColor.isEmpty()));
    }
}
