package io.roster;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/**
 * Captures what slf4j-simple logs (it writes to the current {@code System.err}) while still passing it through, so
 * that tests can check what was logged, and that no secret was.
 */
public final class LogCapture implements AutoCloseable {
    private final PrintStream original = System.err;
    private final ByteArrayOutputStream captured = new ByteArrayOutputStream();

    private LogCapture() {
        OutputStream tee = new OutputStream() {
            @Override
            public synchronized void write(int b) {
                captured.write(b);
                original.write(b);
            }

            @Override
            public synchronized void write(byte[] b, int off, int len) {
                captured.write(b, off, len);
                original.write(b, off, len);
            }
        };
        System.setErr(new PrintStream(tee, true, StandardCharsets.UTF_8));
    }

    /**
     * Starts capturing.
     *
     * @return the capture; close it to stop
     */
    public static LogCapture start() {
        return new LogCapture();
    }

    /**
     * Returns everything logged since {@link #start()}.
     *
     * @return the log text
     */
    public String text() {
        System.err.flush();
        synchronized (captured) {
            return captured.toString(StandardCharsets.UTF_8);
        }
    }

    /**
     * Counts the log lines that contain a text.
     *
     * @param part the text
     * @return the number of lines
     */
    public long lines(String part) {
        return text().lines().filter(l -> l.contains(part)).count();
    }

    @Override
    public void close() {
        System.err.flush();
        System.setErr(original);
    }
}
