package io.roster.spi;

import io.roster.RegistryException;
import io.roster.RegistryUnavailableException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.UndeclaredThrowableException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;

/**
 * Turns whatever a backend's client library throws into a {@link RegistryException} that names the registry and
 * the action, so that no JDK or client-library exception escapes the public API unwrapped.
 * {@link AbstractRegistry} applies it to every public method and {@link io.roster.Registries#open} to every
 * provider; backends use it where they translate failures themselves.
 */
public final class Failures {
    private static final int MAX_DEPTH = 16;

    private Failures() {
    }

    /**
     * Wraps a failure.
     *
     * @param action what was attempted, such as {@code register greeter/1}
     * @param registry the registry, such as {@code etcd at 10.0.0.1:2379}; never with secrets
     * @param cause the failure
     * @return {@code cause} itself when it is a {@link RegistryException} already; a
     *     {@link RegistryUnavailableException} when it is I/O-like ({@link #isIoLike}); a {@link RegistryException}
     *     otherwise. The message quotes the cause with secrets masked ({@link #describe}).
     */
    public static RegistryException wrap(String action, String registry, Throwable cause) {
        if (cause instanceof RegistryException) {
            return (RegistryException) cause;
        }
        if (cause instanceof InterruptedException) {
            Thread.currentThread().interrupt(); // keep the interrupt for the caller, who gets an unchecked exception
        }
        if (isIoLike(cause)) {
            return new RegistryUnavailableException(action + " failed: " + registry + " is unavailable ("
                    + describe(cause) + ")", cause);
        }
        return new RegistryException(action + " failed on " + registry + ": " + describe(cause), cause);
    }

    /**
     * Tells whether a failure means the backend could not be reached or did not answer in time: an
     * {@link IOException} (connection refused or reset, HTTP timeout, ...), an {@link UncheckedIOException}, a
     * {@link TimeoutException} or an {@link InterruptedException} anywhere in its cause chain.
     *
     * @param failure the failure
     * @return true for I/O-like failures
     */
    public static boolean isIoLike(Throwable failure) {
        Throwable t = failure;
        for (int depth = 0; t != null && depth < MAX_DEPTH; depth++) {
            if (t instanceof IOException || t instanceof UncheckedIOException || t instanceof TimeoutException
                    || t instanceof InterruptedException) {
                return true;
            }
            t = t.getCause() == t ? null : t.getCause();
        }
        return false;
    }

    /**
     * Describes a failure for a message or a log line: its innermost meaningful exception (unwrapping
     * {@link CompletionException}, {@link ExecutionException}, {@link UncheckedIOException} and reflection
     * wrappers) as {@code toString()}, with
     * user info and secret query values masked by {@link RegistryUri#redact}.
     *
     * @param failure the failure
     * @return such as {@code java.net.ConnectException: Connection refused}
     */
    public static String describe(Throwable failure) {
        Throwable t = failure;
        for (int depth = 0; depth < MAX_DEPTH && t.getCause() != null && t.getCause() != t
                && (t instanceof CompletionException || t instanceof ExecutionException
                || t instanceof UncheckedIOException || t instanceof UndeclaredThrowableException
                || t instanceof InvocationTargetException); depth++) {
            t = t.getCause();
        }
        return RegistryUri.redact(t.toString());
    }

    /**
     * Returns a copy of a failure fit for a log line with its stack trace: the same stack traces and cause chain,
     * every message redacted by {@link RegistryUri#redact} (a client library may quote a URL with its password).
     * Pass it as the last argument of an SLF4J call.
     *
     * @param failure the failure
     * @return a throwable whose {@code toString()} is the original's, redacted
     */
    public static Throwable redacted(Throwable failure) {
        return copy(failure, 0);
    }

    private static Throwable copy(Throwable t, int depth) {
        Redacted copy = new Redacted(RegistryUri.redact(t.toString()));
        copy.setStackTrace(t.getStackTrace());
        if (t.getCause() != null && t.getCause() != t && depth < MAX_DEPTH) {
            copy.initCause(copy(t.getCause(), depth + 1));
        }
        return copy;
    }

    /** A failure's text and stack, without its secrets. */
    private static final class Redacted extends Exception {
        private static final long serialVersionUID = 1L;
        private final String text;

        Redacted(String text) {
            super(text);
            this.text = text;
        }

        @Override
        public String toString() {
            return text;
        }
    }
}
