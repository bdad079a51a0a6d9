package io.roster.grpc;

import io.roster.select.Balancer;
import io.roster.select.Filter;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * The configuration of the {@code roster} load-balancing policy: which {@code io.roster.select} balancer picks, and
 * which instances it may pick from. It is what the policy parses from a service config,
 *
 * <pre>{@code
 * {"loadBalancingConfig": [{"roster": {
 *     "balancer": "power_of_two_choices",
 *     "version": "v2.1.0",
 *     "metadata": {"canary": "false"},
 *     "prefer": {"zone": "eu-west-1a"}
 * }}]}
 * }</pre>
 *
 * and {@link #toServiceConfig()} writes that for {@code ManagedChannelBuilder.defaultServiceConfig}:
 *
 * <pre>{@code
 * RosterChannels.forService(registry, "greeter")
 *         .defaultServiceConfig(RosterPolicy.builder().balancer("p2c").version("v2.1.0").build().toServiceConfig())
 *         .build();
 * }</pre>
 *
 * <ul>
 *   <li>{@code balancer}: {@code round_robin} (the default), {@code random}, {@code weighted_round_robin} (weights
 *       from the instances' {@code weight} metadata), {@code power_of_two_choices} (alias {@code p2c}; P2C with
 *       EWMA latency and success rate) or {@code least_request} (alias {@code least_requests}); {@code -} and
 *       {@code _} are interchangeable.</li>
 *   <li>{@code version}: only instances of exactly this version are connected to and called ({@link
 *       Filter#version(String)}).</li>
 *   <li>{@code metadata}: only instances whose metadata has every one of these values ({@link
 *       Filter#metadata(String, String)}).</li>
 *   <li>{@code prefer}: among the connected (READY) instances, those with these metadata values, in order, when
 *       there is at least one; the others otherwise ({@link Filter#prefer(String, String)}).</li>
 * </ul>
 *
 * <p>Immutable; equal configurations keep the policy's statistics when a service config is applied again.
 */
public final class RosterPolicy {
    private static final RosterPolicy DEFAULT = builder().build();
    private static final Map<String, String> CANONICAL = Map.of(
            "round_robin", "round_robin",
            "random", "random",
            "weighted_round_robin", "weighted_round_robin",
            "power_of_two_choices", "power_of_two_choices",
            "p2c", "power_of_two_choices",
            "least_request", "least_request",
            "least_requests", "least_request");

    private final String balancer;
    private final String version;
    private final Map<String, String> metadata;
    private final Map<String, String> prefer;

    private RosterPolicy(Builder b) {
        this.balancer = b.balancer;
        this.version = b.version;
        this.metadata = Collections.unmodifiableMap(new LinkedHashMap<>(b.metadata));
        this.prefer = Collections.unmodifiableMap(new LinkedHashMap<>(b.prefer));
    }

    /**
     * Returns the configuration without settings: round-robin over every instance.
     *
     * @return the default
     */
    public static RosterPolicy defaults() {
        return DEFAULT;
    }

    /**
     * Starts a configuration.
     *
     * @return a builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Reads a configuration from the JSON object of a service config's {@code "roster"} entry, as grpc parsed it.
     *
     * @param json the object: string values, nested objects of strings
     * @return the configuration
     * @throws IllegalArgumentException naming the key, for an unknown key, a value of the wrong type or an unknown
     *     balancer
     */
    public static RosterPolicy fromJson(Map<String, ?> json) {
        Builder builder = builder();
        for (Map.Entry<String, ?> entry : json.entrySet()) {
            String key = entry.getKey();
            Object value = entry.getValue();
            switch (key) {
                case "balancer":
                    builder.balancer(string(key, value));
                    break;
                case "version":
                    builder.version(string(key, value));
                    break;
                case "metadata":
                    strings(key, value).forEach(builder::metadata);
                    break;
                case "prefer":
                    strings(key, value).forEach(builder::prefer);
                    break;
                default:
                    throw new IllegalArgumentException("unknown key '" + key + "' in the roster policy's config "
                            + "(known: balancer, version, metadata, prefer)");
            }
        }
        return builder.build();
    }

    /**
     * Returns the balancer's name.
     *
     * @return {@code round_robin}, {@code random}, {@code weighted_round_robin}, {@code power_of_two_choices} or
     *     {@code least_request}
     */
    public String balancerName() {
        return balancer;
    }

    /**
     * Makes the balancer.
     *
     * @return the {@code io.roster.select} balancer of {@link #balancerName()}
     */
    public Balancer balancer() {
        switch (balancer) {
            case "random":
                return Balancer.random();
            case "weighted_round_robin":
                return Balancer.weightedRoundRobin();
            case "power_of_two_choices":
                return Balancer.powerOfTwoChoices();
            case "least_request":
                return Balancer.leastRequests();
            default:
                return Balancer.roundRobin();
        }
    }

    /**
     * Returns the filters that decide which instances are connected to at all: the version, then the metadata.
     *
     * @return the filters, in order; empty when there are none
     */
    public List<Filter> requirements() {
        List<Filter> filters = new ArrayList<>();
        if (version != null) {
            filters.add(Filter.version(version));
        }
        metadata.forEach((key, value) -> filters.add(Filter.metadata(key, value)));
        return filters;
    }

    /**
     * Returns the preferences, applied among the connected instances at each pick list.
     *
     * @return the {@link Filter#prefer(String, String)} filters, in order
     */
    public List<Filter> preferences() {
        List<Filter> filters = new ArrayList<>();
        prefer.forEach((key, value) -> filters.add(Filter.prefer(key, value)));
        return filters;
    }

    /**
     * Writes this configuration as the {@code "roster"} entry of a service config's JSON.
     *
     * @return the object {@link #fromJson(Map)} reads back
     */
    public Map<String, Object> toJson() {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("balancer", balancer);
        if (version != null) {
            json.put("version", version);
        }
        if (!metadata.isEmpty()) {
            json.put("metadata", metadata);
        }
        if (!prefer.isEmpty()) {
            json.put("prefer", prefer);
        }
        return json;
    }

    /**
     * Writes a whole service config that selects the {@code roster} policy with this configuration.
     *
     * @return {@code {"loadBalancingConfig": [{"roster": {...}}]}}, for
     *     {@code ManagedChannelBuilder.defaultServiceConfig}
     */
    public Map<String, Object> toServiceConfig() {
        return Map.of("loadBalancingConfig", List.of(Map.of(RosterLoadBalancerProvider.POLICY_NAME, toJson())));
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof RosterPolicy)) {
            return false;
        }
        RosterPolicy other = (RosterPolicy) o;
        return balancer.equals(other.balancer) && Objects.equals(version, other.version)
                && List.copyOf(metadata.entrySet()).equals(List.copyOf(other.metadata.entrySet()))
                && List.copyOf(prefer.entrySet()).equals(List.copyOf(other.prefer.entrySet()));
    }

    @Override
    public int hashCode() {
        return Objects.hash(balancer, version, metadata, prefer);
    }

    @Override
    public String toString() {
        return "roster" + toJson();
    }

    private static String string(String key, Object value) {
        if (!(value instanceof String)) {
            throw new IllegalArgumentException("'" + key + "' in the roster policy's config must be a string (was "
                    + value + ")");
        }
        return (String) value;
    }

    private static Map<String, String> strings(String key, Object value) {
        if (!(value instanceof Map)) {
            throw new IllegalArgumentException("'" + key + "' in the roster policy's config must be an object of "
                    + "strings, such as {\"zone\": \"eu-west-1a\"} (was " + value + ")");
        }
        Map<String, String> strings = new LinkedHashMap<>();
        for (Map.Entry<?, ?> entry : ((Map<?, ?>) value).entrySet()) {
            strings.put(String.valueOf(entry.getKey()), string(key + "." + entry.getKey(), entry.getValue()));
        }
        return strings;
    }

    /**
     * Configures a {@link RosterPolicy}. Not thread-safe.
     */
    public static final class Builder {
        private String balancer = "round_robin";
        private String version;
        private final Map<String, String> metadata = new LinkedHashMap<>();
        private final Map<String, String> prefer = new LinkedHashMap<>();

        private Builder() {
        }

        /**
         * Sets the balancer.
         *
         * @param name {@code round_robin} (default), {@code random}, {@code weighted_round_robin},
         *     {@code power_of_two_choices} ({@code p2c}) or {@code least_request} ({@code least_requests}); {@code -}
         *     and {@code _} alike, any case
         * @return this builder
         * @throws IllegalArgumentException for another name
         */
        public Builder balancer(String name) {
            Objects.requireNonNull(name, "name");
            String canonical = CANONICAL.get(name.toLowerCase(Locale.ROOT).replace('-', '_'));
            if (canonical == null) {
                throw new IllegalArgumentException("unknown balancer '" + name + "' (known: round_robin, random, "
                        + "weighted_round_robin, power_of_two_choices or p2c, least_request)");
            }
            this.balancer = canonical;
            return this;
        }

        /**
         * Calls only instances of exactly this version.
         *
         * @param version the version
         * @return this builder
         */
        public Builder version(String version) {
            this.version = Objects.requireNonNull(version, "version");
            return this;
        }

        /**
         * Calls only instances whose metadata maps {@code key} to {@code value}; several such requirements must all
         * hold.
         *
         * @param key the metadata key
         * @param value the value required
         * @return this builder
         */
        public Builder metadata(String key, String value) {
            metadata.put(Objects.requireNonNull(key, "key"), Objects.requireNonNull(value, "value"));
            return this;
        }

        /**
         * Prefers the connected instances whose metadata maps {@code key} to {@code value} (such as a zone), falling
         * back to the others when none is connected; preferences apply in the order given.
         *
         * @param key the metadata key, such as {@code zone}
         * @param value the preferred value
         * @return this builder
         */
        public Builder prefer(String key, String value) {
            prefer.put(Objects.requireNonNull(key, "key"), Objects.requireNonNull(value, "value"));
            return this;
        }

        /**
         * Builds the configuration.
         *
         * @return the configuration
         */
        public RosterPolicy build() {
            return new RosterPolicy(this);
        }
    }
}
