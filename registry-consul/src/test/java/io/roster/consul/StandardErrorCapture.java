package io.roster.consul;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/**
 * Copies standard error (where slf4j-simple logs in tests) into a buffer while open, so that a test can read what
 * was logged. Closing restores the original stream.
 */
final class StandardErrorCapture implements AutoCloseable {
    private final PrintStream original = System.err;
    private final ByteArrayOutputStream captured = new ByteArrayOutputStream();

    private StandardErrorCapture() {
        OutputStream tee = new OutputStream() {
            @Override
            public void write(int b) {
                original.write(b);
                synchronized (captured) {
                    captured.write(b);
                }
            }

            @Override
            public void write(byte[] b, int off, int len) {
                original.write(b, off, len);
                synchronized (captured) {
                    captured.write(b, off, len);
                }
            }
        };
        System.setErr(new PrintStream(tee, true, StandardCharsets.UTF_8));
    }

    static StandardErrorCapture start() {
        return new StandardErrorCapture();
    }

    /** What was written so far. */
    String text() {
        System.err.flush();
        synchronized (captured) {
            return captured.toString(StandardCharsets.UTF_8);
        }
    }

    /** How many lines written so far contain the text. */
    long lines(String containing) {
        return text().lines().filter(l -> l.contains(containing)).count();
    }

    @Override
    public void close() {
        System.err.flush();
        System.setErr(original);
    }
}
