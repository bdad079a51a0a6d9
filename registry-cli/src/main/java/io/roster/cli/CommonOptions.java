package io.roster.cli;

import io.roster.spi.Durations;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

import java.time.Duration;

/** The options every command takes. */
final class CommonOptions {
    @Option(names = "--json", description = "Print JSON (stable field names) instead of a table.")
    boolean json;

    @Option(names = "--timeout", paramLabel = "<duration>", defaultValue = "5s", converter = DurationConverter.class,
            description = "How long to wait for the registry to answer, such as 500ms, 5s, 1m (default: "
                    + "${DEFAULT-VALUE}). Applied to the URI's own timeout option when it sets none.")
    Duration timeout;

    @Option(names = "--no-color", description = "No colours, even on a terminal (NO_COLOR=1 does the same).")
    boolean noColor;

    @Option(names = "--seed", description = "mem:// only: first register demo services in the in-process store "
            + "(greeter with two instances, billing, and reports, which has no endpoint).")
    boolean seed;

    @Option(names = {"-v", "--verbose"}, description = "Show the backends' warnings on stderr.")
    boolean verbose;

    /** Reads {@code 500ms}, {@code 5s}, {@code 1m}, ISO-8601; refuses zero and negative durations. */
    static final class DurationConverter implements ITypeConverter<Duration> {
        @Override
        public Duration convert(String value) {
            Duration d;
            try {
                d = Durations.parse(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
            if (d.isZero() || d.isNegative()) {
                throw new TypeConversionException("must be positive, was '" + value + "'");
            }
            return d;
        }
    }
}
