package io.roster.cli;

import io.roster.spi.RegistryUri;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Help;
import picocli.CommandLine.IVersionProvider;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The {@code roster} command: list, get, watch and check any registry Roster speaks to, through the URIs of
 * {@link io.roster.Registries#open}. Run it as {@code java -jar roster.jar <command> <uri> ...}; {@code --help}
 * on any command explains it.
 */
@Command(name = "roster", mixinStandardHelpOptions = true, versionProvider = Roster.Version.class,
        exitCodeOnInvalidInput = Exit.USAGE, synopsisSubcommandLabel = "<command>",
        description = "Look into a service registry: what is registered, whether it is well-formed, how it changes.",
        footer = {"", "Examples:",
                "  roster list mem://demo --seed              # a demo registry, in this process",
                "  roster get etcd://10.0.0.1:2379 greeter",
                "  roster watch zookeeper://10.0.0.1:2181 greeter",
                "  roster check etcd://10.0.0.1:2379 --json",
                "",
                "Exit codes: 0 done (check: clean), 1 check found problems, 2 registry unreachable or refused "
                        + "within the timeout, 64 bad arguments, 130 interrupted."})
public final class Roster implements Runnable {
    private final PrintWriter out;
    private final PrintWriter err;
    private final Terminal terminal;
    private final Clock clock;
    private final List<AutoCloseable> onStop = new CopyOnWriteArrayList<>();
    private volatile boolean stopped;
    private volatile Thread running;

    @Spec
    CommandSpec spec;

    Roster(PrintStream out, PrintStream err, Terminal terminal, Clock clock) {
        this.out = new PrintWriter(new OutputStreamWriter(out, StandardCharsets.UTF_8), true);
        this.err = new PrintWriter(new OutputStreamWriter(err, StandardCharsets.UTF_8), true);
        this.terminal = terminal;
        this.clock = clock;
    }

    /**
     * Runs the command and exits with its exit code. Ctrl-C stops a {@code watch} cleanly: the watcher and the
     * registry are closed before the JVM ends.
     *
     * @param args the command line
     */
    public static void main(String[] args) {
        if (Arrays.asList(args).contains("-v") || Arrays.asList(args).contains("--verbose")) {
            // Before the first logger exists: slf4j-simple reads its level once.
            System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        }
        Roster roster = new Roster(System.out, System.err, Terminal.detect(), Clock.systemDefaultZone());
        Thread main = Thread.currentThread();
        Thread hook = new Thread(() -> {
            roster.stop();
            try {
                main.join(10_000); // let the command close its watcher and registry
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "roster-cli-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        int code = roster.run(args);
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException e) {
            return; // Ctrl-C: the JVM is exiting already, and System.exit would now wait forever
        }
        System.exit(code);
    }

    /**
     * Runs one command line in this JVM.
     *
     * @param args the command line, such as {@code list mem://demo}
     * @return the exit code
     */
    int run(String... args) {
        running = Thread.currentThread();
        try {
            CommandLine line = new CommandLine(this);
            line.addSubcommand(new ListCommand(this));
            line.addSubcommand(new GetCommand(this));
            line.addSubcommand(new WatchCommand(this));
            line.addSubcommand(new CheckCommand(this));
            line.addSubcommand(new CommandLine.HelpCommand());
            line.setOut(out).setErr(err);
            line.setColorScheme(Help.defaultColorScheme(terminal.color() ? Help.Ansi.ON : Help.Ansi.OFF));
            line.setExecutionExceptionHandler((e, cmd, parsed) -> Session.report(e, "the registry", err));
            line.setParameterExceptionHandler((e, given) -> {
                err.println("roster: " + Text.oneLine(RegistryUri.redact(e.getMessage())));
                CommandLine.UnmatchedArgumentException.printSuggestions(e, err);
                err.println("Run '" + e.getCommandLine().getCommandSpec().qualifiedName() + " --help' for usage.");
                err.flush();
                return Exit.USAGE;
            });
            return line.execute(args);
        } finally {
            running = null;
            out.flush();
            err.flush();
        }
    }

    /** Without a command: the usage. */
    @Override
    public void run() {
        spec.commandLine().usage(out, terminal.color() ? Help.Ansi.ON : Help.Ansi.OFF);
    }

    /**
     * Stops the command under way, as Ctrl-C does: a {@code watch} ends normally; a read under way is interrupted.
     * From any thread; later commands of this instance stop at once.
     */
    void stop() {
        stopped = true;
        for (AutoCloseable closeable : onStop) {
            try {
                closeable.close();
            } catch (Exception e) {
                // stopping anyway
            }
        }
        Thread thread = running;
        if (thread != null && onStop.isEmpty()) {
            thread.interrupt(); // a watch ends through its watcher; anything else is interrupted
        }
    }

    /**
     * Has {@code closeable} closed by {@link #stop()}.
     *
     * @return false when the command is stopped already (the closeable was closed)
     */
    boolean stopOnInterrupt(AutoCloseable closeable) {
        onStop.add(closeable);
        if (stopped) {
            try {
                closeable.close();
            } catch (Exception e) {
                // stopped anyway
            }
            return false;
        }
        return true;
    }

    boolean isStopped() {
        return stopped;
    }

    PrintWriter out() {
        return out;
    }

    PrintWriter err() {
        return err;
    }

    Terminal terminal() {
        return terminal;
    }

    Clock clock() {
        return clock;
    }

    /** The version in the jar's manifest. */
    static final class Version implements IVersionProvider {
        @Override
        public String[] getVersion() {
            String version = Roster.class.getPackage().getImplementationVersion();
            return new String[] {"roster " + (version == null ? "(development build)" : version)};
        }
    }
}
