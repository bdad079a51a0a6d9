package io.roster.spi;

import io.roster.InvalidOptionException;

import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * The options of a registry URI ({@code ?ttl=15s&timeout=3s}), read by a provider one by one. Every read marks the
 * option as known; {@link #requireAllKnown()} then rejects anything the provider did not read, naming it and
 * listing the known ones. Bad values are rejected naming the option. Values of secret options (names such as
 * {@code password}, {@code accessToken}, {@code clientSecret} or {@code digest}, see {@link #isSecretName}, and any
 * read with {@link #secret}) never appear in messages or in {@link #toString()}.
 *
 * <p>Options of a URI without user info but with an {@code @} in its query ({@code etcd://root:12?x=y@host}: a
 * password holding an unencoded {@code ?} ended the authority early) may hold the rest of a password: then no
 * value and no unknown option name appears in messages or {@link #toString()}.
 */
public final class Options {
    private static final Pattern SECRET_NAME = Pattern.compile(
            ".*(password|passwd|pwd|token|secret|digest|credential|apikey|privatekey|authorization).*|auth");
    private final String backend;
    private final Map<String, String> values;
    private final boolean mayHoldUserInfo;
    private final Set<String> known = new TreeSet<>();
    private final Set<String> secrets = new TreeSet<>();

    /**
     * Creates options.
     *
     * @param backend the scheme, used in messages
     * @param values option names to raw (decoded) values, in URI order
     */
    public Options(String backend, Map<String, String> values) {
        this(backend, values, false);
    }

    /** For {@link RegistryUri}: {@code mayHoldUserInfo} when the query may hold the rest of a password. */
    Options(String backend, Map<String, String> values, boolean mayHoldUserInfo) {
        this.backend = backend;
        this.values = Collections.unmodifiableMap(new LinkedHashMap<>(values));
        this.mayHoldUserInfo = mayHoldUserInfo;
    }

    /**
     * Reads a text option.
     *
     * @param name the option name
     * @return its value, or empty when absent
     */
    public Optional<String> string(String name) {
        known.add(name);
        return Optional.ofNullable(values.get(name));
    }

    /**
     * Reads a text option with a default.
     *
     * @param name the option name
     * @param defaultValue used when the option is absent
     * @return its value or the default
     */
    public String string(String name, String defaultValue) {
        return string(name).orElse(defaultValue);
    }

    /**
     * Reads a secret option: its value is never shown.
     *
     * @param name the option name, such as {@code token}
     * @return its value, or empty when absent
     */
    public Optional<String> secret(String name) {
        secrets.add(name);
        return string(name);
    }

    /**
     * Reads a duration option ({@code 500ms}, {@code 15s}, {@code 2m}).
     *
     * @param name the option name
     * @param defaultValue used when the option is absent
     * @return the duration
     * @throws InvalidOptionException when the value is not a positive duration
     */
    public Duration duration(String name, Duration defaultValue) {
        return duration(name).orElse(defaultValue);
    }

    /**
     * Reads an optional duration option.
     *
     * @param name the option name
     * @return the duration, or empty when absent
     * @throws InvalidOptionException when the value is not a positive duration
     */
    public Optional<Duration> duration(String name) {
        return string(name).map(v -> {
            Duration d;
            try {
                d = Durations.parse(v);
            } catch (IllegalArgumentException e) {
                throw bad(name, e.getMessage());
            }
            if (d.isZero() || d.isNegative()) {
                throw bad(name, "must be positive, was '" + v + "'");
            }
            return d;
        });
    }

    /**
     * Reads an integer option.
     *
     * @param name the option name
     * @param defaultValue used when the option is absent
     * @return the value
     * @throws InvalidOptionException when the value is not a decimal integer
     */
    public int integer(String name, int defaultValue) {
        return string(name).map(v -> {
            try {
                return Integer.parseInt(v.trim());
            } catch (NumberFormatException e) {
                throw bad(name, "expected an integer, was '" + v + "'");
            }
        }).orElse(defaultValue);
    }

    /**
     * Reads a boolean option: {@code true}/{@code false} (any case); a bare {@code ?tls} counts as true.
     *
     * @param name the option name
     * @param defaultValue used when the option is absent
     * @return the value
     * @throws InvalidOptionException when the value is not a boolean
     */
    public boolean bool(String name, boolean defaultValue) {
        return string(name).map(v -> {
            String t = v.trim().toLowerCase(Locale.ROOT);
            if (t.isEmpty() || t.equals("true")) {
                return true;
            }
            if (t.equals("false")) {
                return false;
            }
            throw bad(name, "expected true or false, was '" + v + "'");
        }).orElse(defaultValue);
    }

    /**
     * Creates the exception for a bad value of an option; the value is left out for secret options, and masked
     * in the rule when the query may hold the rest of a password.
     *
     * @param name the option name
     * @param rule what is wrong, possibly quoting the value
     * @return the exception, to throw
     */
    public InvalidOptionException bad(String name, String rule) {
        String value = values.get(name);
        String why = isSecret(name) ? "has a bad value"
                : mayHoldUserInfo && value != null && !value.isEmpty() ? rule.replace(value, "***") : rule;
        return new InvalidOptionException(name, backend + " option '" + name + "' " + why);
    }

    /**
     * Rejects options that no read asked for: typos must not pass silently.
     *
     * @throws InvalidOptionException naming the unknown option and listing the known ones
     */
    public void requireAllKnown() {
        for (String name : values.keySet()) {
            if (known.contains(name)) {
                continue;
            }
            if (mayHoldUserInfo || name.indexOf('@') >= 0) {
                // Most likely not an option at all but the rest of a password whose '?' ended the authority.
                throw new InvalidOptionException("uri", backend + " URI has an option it does not know (not shown: "
                        + "the URI has an '@' in its query and no user info before its host, so the query may be "
                        + "the rest of a password; '/', '?', '#' and '@' in a user name or password must be "
                        + "percent-encoded as %2F, %3F, %23, %40); known options: " + String.join(", ", known));
            }
            throw new InvalidOptionException(name, "unknown " + backend + " option '" + name
                    + "'; known options: " + String.join(", ", known));
        }
    }

    /**
     * Tells whether an option's value must never be shown.
     *
     * @param name the option name
     * @return true for secrets
     */
    public boolean isSecret(String name) {
        return secrets.contains(name) || isSecretName(name);
    }

    /**
     * Tells whether an option's name alone marks its value as secret: any name containing {@code password},
     * {@code passwd}, {@code pwd}, {@code token}, {@code secret}, {@code digest}, {@code credential},
     * {@code apikey}, {@code privatekey} or {@code authorization}, or the name {@code auth} (case, {@code -},
     * {@code _} and {@code .} ignored). {@link RegistryUri#redact} masks the values of such query parameters too.
     *
     * @param name an option or query parameter name
     * @return true when values of that name are never shown
     */
    public static boolean isSecretName(String name) {
        return SECRET_NAME.matcher(name.toLowerCase(Locale.ROOT).replaceAll("[-_.]", "")).matches();
    }

    /**
     * Returns the options as a query string with secret values replaced by {@code ***} (every value, and the name
     * of every option not read, when the query may hold the rest of a password).
     *
     * @return such as {@code ttl=15s&token=***}, empty when there are none
     */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder();
        values.forEach((k, v) -> {
            if (sb.length() > 0) {
                sb.append('&');
            }
            sb.append(mayHoldUserInfo && !known.contains(k) ? "***" : k).append('=')
                    .append(isSecret(k) || mayHoldUserInfo ? "***" : v);
        });
        return sb.toString();
    }

    /**
     * Refuses a null builder argument the way every other option rule is refused: an
     * {@link InvalidOptionException} naming the option, never a bare {@code NullPointerException}.
     *
     * @param value the argument
     * @param option the option's name, such as {@code ttl}
     * @param <T> the argument's type
     * @return the same value
     * @throws InvalidOptionException when the value is null
     */
    public static <T> T required(T value, String option) {
        if (value == null) {
            throw new InvalidOptionException(option, "option '" + option + "' must not be null");
        }
        return value;
    }
}
