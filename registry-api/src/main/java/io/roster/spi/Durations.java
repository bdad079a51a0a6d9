package io.roster.spi;

import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Short duration text, as in URI options: {@code 500ms}, {@code 15s}, {@code 2m}, {@code 1h} (and ISO-8601 such as
 * {@code PT15S}).
 */
public final class Durations {
    private static final Pattern SHORT = Pattern.compile("(\\d{1,12})(ms|s|m|h)");

    private Durations() {
    }

    /**
     * Parses a duration.
     *
     * @param text such as {@code 500ms}, {@code 15s}, {@code 2m}, {@code 1h} or {@code PT15S}
     * @return the duration
     * @throws IllegalArgumentException with an explanation when the text is not a duration
     */
    public static Duration parse(String text) {
        String t = text.trim();
        Matcher m = SHORT.matcher(t);
        if (m.matches()) {
            long n = Long.parseLong(m.group(1));
            switch (m.group(2)) {
                case "ms":
                    return Duration.ofMillis(n);
                case "s":
                    return Duration.ofSeconds(n);
                case "m":
                    return Duration.ofMinutes(n);
                default:
                    return Duration.ofHours(n);
            }
        }
        if (t.startsWith("PT") || t.startsWith("pt")) {
            try {
                return Duration.parse(t);
            } catch (RuntimeException e) {
                // fall through to the common message
            }
        }
        throw new IllegalArgumentException("expected a duration such as 500ms, 15s, 2m or 1h, was '" + text + "'");
    }

    /**
     * Formats a duration in the short form {@link #parse} reads: the largest unit that represents it exactly.
     *
     * @param d a non-negative duration
     * @return such as {@code 15s} or {@code 1500ms}
     */
    public static String format(Duration d) {
        long ms = d.toMillis();
        if (ms % 3_600_000 == 0 && ms != 0) {
            return ms / 3_600_000 + "h";
        }
        if (ms % 60_000 == 0 && ms != 0) {
            return ms / 60_000 + "m";
        }
        if (ms % 1000 == 0) {
            return ms / 1000 + "s";
        }
        return ms + "ms";
    }
}
