package io.roster.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Runs the {@code roster} command in this JVM through its entry point, capturing stdout and stderr. */
final class Cli {
    private final Roster roster;
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();
    private CompletableFuture<Integer> exit;

    private Cli(Terminal terminal) {
        this.roster = new Roster(new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), terminal, Clock.systemDefaultZone());
    }

    /** The outcome of a finished command. */
    record Result(int exit, String out, String err) {
    }

    static Result run(String... args) {
        return run(Terminal.PLAIN, args);
    }

    static Result run(Terminal terminal, String... args) {
        Cli cli = new Cli(terminal);
        int code = cli.roster.run(args);
        return new Result(code, cli.out(), cli.err());
    }

    /** Starts a command that runs until stopped ({@code watch}) on a thread of its own. */
    static Cli start(String... args) {
        Cli cli = new Cli(Terminal.PLAIN);
        cli.exit = CompletableFuture.supplyAsync(() -> cli.roster.run(args), command -> {
            Thread thread = new Thread(command, "roster-cli-test-command");
            thread.setDaemon(true);
            thread.start();
        });
        return cli;
    }

    String out() {
        return out.toString(StandardCharsets.UTF_8);
    }

    String err() {
        return err.toString(StandardCharsets.UTF_8);
    }

    boolean isRunning() {
        return !exit.isDone();
    }

    /** Stops the command as Ctrl-C does, and returns its exit code. */
    int stop(Duration bound) throws Exception {
        roster.stop();
        return exit.get(bound.toMillis(), TimeUnit.MILLISECONDS);
    }
}
