package io.roster.cli;

import io.roster.InvalidInstanceException;
import io.roster.InvalidOptionException;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.RegistryAccessDeniedException;
import io.roster.RegistryException;
import io.roster.RegistryUnavailableException;
import io.roster.spi.DaemonThreadFactory;
import io.roster.spi.Durations;
import io.roster.spi.Inspector;
import io.roster.spi.RegistryUri;

import java.io.PrintWriter;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One command's run against one registry: opens it (with the timeout applied and, for {@code --seed}, the demo
 * data), bounds the calls that first reach it, shows progress, and closes everything at the end.
 */
final class Session implements AutoCloseable {
    private final PrintWriter out;
    private final PrintWriter err;
    private final Terminal terminal;
    private final CommonOptions options;
    private final String uri;
    private final ExecutorService calls = Executors.newCachedThreadPool(new DaemonThreadFactory("roster-cli-call"));
    private String scheme;
    private String effectiveUri;
    private Optional<Inspector> inspector = Optional.empty();
    private Registry registry;
    private Seed seed;

    Session(PrintWriter out, PrintWriter err, Terminal terminal, CommonOptions options, String uri) {
        this.out = out;
        this.err = err;
        this.terminal = terminal;
        this.options = options;
        this.uri = uri;
    }

    PrintWriter out() {
        return out;
    }

    boolean json() {
        return options.json;
    }

    boolean color() {
        return terminal.color() && !options.noColor;
    }

    Duration timeout() {
        return options.timeout;
    }

    /** The URI as it may be shown: user info and secret options masked. */
    String shownUri() {
        return RegistryUri.redact(uri);
    }

    Optional<Inspector> inspector() {
        return inspector;
    }

    /** The URI the registry was opened with (the timeout added), parsed afresh for an inspector. */
    RegistryUri parsedUri() {
        return RegistryUri.parse(URI.create(effectiveUri));
    }

    /**
     * Opens the registry: checks the URI and that a backend serves its scheme, adds the timeout option the
     * backend's inspector names when the URI sets none, seeds a {@code mem://} store when asked, and waits at most
     * the timeout (plus a margin) for the backend to open.
     */
    Registry open() {
        RegistryUri parsed;
        try {
            parsed = RegistryUri.parse(new URI(uri.trim()));
        } catch (URISyntaxException e) {
            throw new Failure(Exit.USAGE, "not a registry URI: '" + shownUri() + "' (" + e.getReason() + ")");
        }
        scheme = parsed.scheme();
        Set<String> schemes = Registries.schemes();
        if (!schemes.contains(scheme)) {
            throw new Failure(Exit.USAGE, "no backend for " + scheme + ":// in this build; schemes: "
                    + String.join(", ", schemes));
        }
        if (options.seed && !scheme.equals("mem")) {
            throw new Failure(Exit.USAGE, "--seed works with mem:// registries only (it writes demo data)");
        }
        inspector = Inspectors.find(scheme);
        effectiveUri = uri.trim();
        Optional<String> timeoutOption = inspector.flatMap(Inspector::timeoutOption);
        if (timeoutOption.isPresent() && parsed.options().string(timeoutOption.get()).isEmpty()) {
            effectiveUri = withOption(effectiveUri, timeoutOption.get(), Durations.format(options.timeout));
        }
        if (options.seed) {
            seed = Seed.into(Registries.open(effectiveUri));
        }
        Object lock = new Object();
        boolean[] abandoned = {false};
        registry = bounded("open", () -> {
            Registry opened = Registries.open(effectiveUri);
            synchronized (lock) {
                if (abandoned[0]) { // the command gave up waiting: nobody else will close it
                    opened.close();
                }
            }
            return opened;
        }, () -> {
            synchronized (lock) {
                abandoned[0] = true;
            }
        });
        return registry;
    }

    /** The seeded demo data, when {@code --seed} was given. */
    Optional<Seed> seed() {
        return Optional.ofNullable(seed);
    }

    /**
     * Runs a call that is the first to reach the backend and waits at most the timeout plus a margin (the
     * backend's own timeout should fire first): an unreachable registry ends the command rather than hanging it.
     */
    <T> T bounded(String what, Callable<T> call) {
        return bounded(what, call, () -> { });
    }

    private <T> T bounded(String what, Callable<T> call, Runnable onAbandon) {
        Future<T> future = calls.submit(call);
        // Room for a cold JVM's first call (class loading, connection set-up), so that the backend's own
        // failure, which says more, usually comes first.
        Duration margin = options.timeout.dividedBy(2).compareTo(Duration.ofSeconds(2)) > 0
                ? options.timeout.dividedBy(2) : Duration.ofSeconds(2);
        try {
            return future.get(options.timeout.plus(margin).toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            onAbandon.run();
            future.cancel(true);
            throw new Failure(Exit.UNREACHABLE, "cannot reach " + shownUri() + ": no answer within "
                    + Durations.format(options.timeout) + " (" + what + ")");
        } catch (InterruptedException e) {
            onAbandon.run();
            future.cancel(true);
            Thread.currentThread().interrupt();
            throw new Failure(Exit.INTERRUPTED, "interrupted");
        } catch (ExecutionException e) {
            throw rethrow(e.getCause());
        }
    }

    private static RuntimeException rethrow(Throwable cause) {
        if (cause instanceof RuntimeException) {
            return (RuntimeException) cause;
        }
        if (cause instanceof Error) {
            throw (Error) cause;
        }
        return new IllegalStateException(cause);
    }

    /**
     * Turns a failure into the exit code and the one-line reason for stderr.
     *
     * @return the exit code, after printing the reason
     */
    static int report(Throwable failure, String shownUri, PrintWriter err) {
        int code;
        String message;
        if (failure instanceof Failure) {
            code = ((Failure) failure).exitCode();
            message = failure.getMessage();
        } else if (failure instanceof InvalidOptionException || failure instanceof InvalidInstanceException) {
            code = Exit.USAGE;
            message = masked(failure);
        } else if (failure instanceof RegistryAccessDeniedException) {
            code = Exit.UNREACHABLE;
            message = "access denied by " + shownUri + ": " + masked(failure);
        } else if (failure instanceof RegistryUnavailableException) {
            code = Exit.UNREACHABLE;
            message = "cannot reach " + shownUri + ": " + masked(failure);
        } else if (failure instanceof RegistryException) {
            code = Exit.UNREACHABLE;
            message = "cannot read " + shownUri + ": " + masked(failure);
        } else {
            code = Exit.INTERNAL;
            message = "unexpected failure (a bug; please report it): " + failure.getClass().getName() + ": "
                    + masked(failure);
        }
        err.println("roster: " + Text.oneLine(message));
        err.flush();
        return code;
    }

    /** The failure's message with secrets masked (backends mask theirs already; this is for the rest). */
    private static String masked(Throwable failure) {
        return RegistryUri.redact(String.valueOf(failure.getMessage()));
    }

    /** Shows how far a long read has come, on stderr and only on a terminal. */
    Progress progress() {
        return new Progress(terminal.interactive() && !options.json ? err : null);
    }

    private static String withOption(String uri, String name, String value) {
        int fragment = uri.indexOf('#');
        String head = fragment < 0 ? uri : uri.substring(0, fragment);
        String tail = fragment < 0 ? "" : uri.substring(fragment);
        return head + (head.indexOf('?') < 0 ? "?" : "&") + name + "="
                + URLEncoder.encode(value, StandardCharsets.UTF_8) + tail;
    }

    @Override
    public void close() {
        try {
            if (registry != null) {
                registry.close();
            }
        } finally {
            if (seed != null) {
                seed.close();
            }
            calls.shutdownNow();
        }
    }

    /** A progress line on stderr, rewritten in place, at most ten times a second, erased at the end. */
    static final class Progress implements AutoCloseable {
        private final PrintWriter err;
        private long last;
        private boolean shown;

        Progress(PrintWriter err) {
            this.err = err;
        }

        void show(String text) {
            long now = System.nanoTime();
            if (err == null || (shown && now - last < 100_000_000L)) {
                return;
            }
            last = now;
            shown = true;
            err.print("\r\u001b[K" + Text.printable(text));
            err.flush();
        }

        @Override
        public void close() {
            if (shown) {
                err.print("\r\u001b[K");
                err.flush();
            }
        }
    }
}
