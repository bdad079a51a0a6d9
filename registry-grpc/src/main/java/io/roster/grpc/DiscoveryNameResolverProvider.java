package io.roster.grpc;

import io.grpc.NameResolver;
import io.grpc.NameResolverProvider;
import io.grpc.NameResolverRegistry;
import io.roster.InvalidOptionException;
import io.roster.Registry;
import io.roster.ServiceInstance;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * Resolves {@code discovery:///<service>} targets through a Roster {@link Registry}, for grpc-java channels: the
 * Java side of Kratos's {@code grpc.WithEndpoint("discovery:///greeter")}.
 *
 * <pre>{@code
 * ManagedChannel channel = RosterChannels.forService(registry, "greeter").build();   // the short way, or:
 *
 * NameResolverRegistry resolvers = new NameResolverRegistry();
 * resolvers.register(DiscoveryNameResolverProvider.of(registry));
 * ManagedChannel channel = Grpc.newChannelBuilder("discovery:///greeter", InsecureChannelCredentials.create(),
 *                 resolvers)
 *         .defaultLoadBalancingPolicy(RosterLoadBalancerProvider.POLICY_NAME)
 *         .build();
 * }</pre>
 *
 * <p>The provider is bound to the registry it is given and is meant for a {@link NameResolverRegistry} of the
 * application's own, passed to the channel as above; it is deliberately not registered in grpc's default registry
 * through {@code ServiceLoader} (which would need a registry from nowhere, and would claim the {@code discovery}
 * scheme for every channel of the JVM). {@code ManagedChannelBuilder.nameResolverFactory} also works, but grpc has
 * deprecated it.
 *
 * <p><b>Watch-driven.</b> Each resolved service is followed with {@link Registry#watch(String)}: a change reaches
 * the channel as soon as the registry delivers it, nothing polls. The watch is shared by every channel of this
 * provider that resolves the same service, and runs on one daemon thread per service, {@code
 * roster-grpc-watch-<service>-<n>}, since {@link io.roster.Watcher#next()} blocks; the thread exists while at least
 * one of those channels' resolvers is started (an idle channel shuts its resolver down) and ends when the last one
 * shuts down. Everything else runs on the channel's {@code SynchronizationContext} and its scheduler.
 *
 * <p><b>Addresses.</b> Per instance, the first endpoint whose scheme is the provider's {@linkplain
 * Builder#endpointScheme(String) endpoint scheme} ({@code grpc} by default, {@code grpcs} for TLS channels) becomes
 * one address, as Kratos's {@code ParseEndpoint} chooses; instances without one are left out; addresses are
 * de-duplicated (the first instance in id order keeps an address). Each carries {@link RosterAttributes} (the
 * instance, its version, zone and weight) and the service name as its authority.
 *
 * <p><b>Nothing to call.</b> When the registry lists no instance, or none with a usable endpoint, or did not answer
 * within {@linkplain Builder#firstListWait(Duration) the first-list wait} and nothing is known, the resolver reports
 * an {@code UNAVAILABLE} error that names the service, the registry and the reason (for instances without a usable
 * endpoint, the schemes they have), so RPCs fail fast with it rather than with grpc's bare "no usable address"; it
 * reports the addresses again as soon as instances appear. While the registry is unreachable after a first list, the
 * last list stays (the {@link io.roster.Watcher} contract). {@code refresh()} reports the current state again.
 */
public final class DiscoveryNameResolverProvider extends NameResolverProvider {
    /** The target scheme unless configured otherwise: {@code discovery:///<service>}, as Kratos's. */
    public static final String DEFAULT_TARGET_SCHEME = "discovery";
    /** The endpoint scheme of plaintext channels, and the default. */
    public static final String PLAINTEXT_ENDPOINT_SCHEME = "grpc";
    /** The endpoint scheme of TLS channels. */
    public static final String TLS_ENDPOINT_SCHEME = "grpcs";
    /** How long a resolver waits for the registry's first list before reporting that nothing is known. */
    public static final Duration DEFAULT_FIRST_LIST_WAIT = Duration.ofSeconds(5);
    /** grpc's default priority for providers. */
    public static final int DEFAULT_PRIORITY = 5;

    private static final Pattern SCHEME = Pattern.compile("[a-z][a-z0-9+.-]*");

    private final Registry registry;
    private final String targetScheme;
    private final String endpointScheme;
    private final Duration firstListWait;
    private final int priority;
    private final Class<? extends SocketAddress> addressType;
    private final Function<URI, ? extends SocketAddress> addresses;
    /** The shared watches, by service. Guarded by itself. */
    private final Map<String, ServiceFeed> feeds = new HashMap<>();

    private DiscoveryNameResolverProvider(Builder b) {
        this.registry = b.registry;
        this.targetScheme = b.targetScheme;
        this.endpointScheme = b.endpointScheme;
        this.firstListWait = b.firstListWait;
        this.priority = b.priority;
        this.addressType = b.addressType;
        this.addresses = b.addresses;
    }

    /**
     * A provider with the defaults: target scheme {@code discovery}, endpoint scheme {@code grpc} (plaintext),
     * first-list wait 5 s, addresses resolved to {@link InetSocketAddress}es.
     *
     * @param registry the registry to discover services in; the caller keeps it open while channels use it
     * @return the provider
     */
    public static DiscoveryNameResolverProvider of(Registry registry) {
        return builder(registry).build();
    }

    /**
     * Starts a provider.
     *
     * @param registry the registry to discover services in; the caller keeps it open while channels use it
     * @return a builder
     */
    public static Builder builder(Registry registry) {
        return new Builder(registry);
    }

    @Override
    protected boolean isAvailable() {
        return true;
    }

    @Override
    protected int priority() {
        return priority;
    }

    @Override
    public String getDefaultScheme() {
        return targetScheme;
    }

    @Override
    public Collection<Class<? extends SocketAddress>> getProducedSocketAddressTypes() {
        return List.of(addressType);
    }

    /**
     * Creates the resolver of a {@code discovery:///<service>} target.
     *
     * @param target the channel's target
     * @param args the channel's resolver arguments
     * @return the resolver, or {@code null} when the target has another scheme
     * @throws IllegalArgumentException when the target has this provider's scheme but is not of the form
     *     {@code <scheme>:///<service>} with a readable service name
     */
    @Override
    public NameResolver newNameResolver(URI target, NameResolver.Args args) {
        if (!targetScheme.equals(target.getScheme())) {
            return null;
        }
        return new DiscoveryNameResolver(this, serviceOf(target), args);
    }

    /** The service a target names: {@code discovery:///greeter} → {@code greeter}. */
    String serviceOf(URI target) {
        String path = target.getPath();
        String form = "expected " + targetScheme + ":///<service>, such as " + targetScheme + ":///greeter";
        if (target.isOpaque() || path == null || !path.startsWith("/") || path.length() == 1) {
            throw new IllegalArgumentException("target '" + target + "' names no service: " + form);
        }
        if (target.getRawAuthority() != null || target.getRawQuery() != null || target.getRawFragment() != null) {
            // Kratos ignores an authority (discovery://ns/greeter does not select a namespace, kratos#2252); a silent
            // ignore hides a mistake, so it is refused.
            throw new IllegalArgumentException("target '" + target + "' has an authority, a query or a fragment: "
                    + form);
        }
        String service = path.substring(1);
        try {
            return ServiceInstance.requireReadableName(service);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("target '" + target + "' does not name a valid service: "
                    + e.getMessage(), e);
        }
    }

    /** The registry this provider resolves through. */
    Registry registry() {
        return registry;
    }

    String endpointScheme() {
        return endpointScheme;
    }

    Duration firstListWait() {
        return firstListWait;
    }

    /**
     * The address of an endpoint, or an exception saying why it has none (such as a host that does not resolve).
     * Called on a feed's thread, where blocking (a DNS lookup) is fine.
     */
    SocketAddress address(URI endpoint) {
        return Objects.requireNonNull(addresses.apply(endpoint), "no address for " + endpoint);
    }

    /** Starts following {@code service} for {@code resolver}, sharing the watch with its other resolvers. */
    void subscribe(String service, DiscoveryNameResolver resolver) {
        ServiceFeed feed;
        synchronized (feeds) {
            feed = feeds.get(service);
            if (feed == null) {
                feed = new ServiceFeed(this, service);
                feeds.put(service, feed);
                feed.start();
            }
            feed.add(resolver);
        }
    }

    /** Stops following {@code service} for {@code resolver}; the last one to leave ends the watch. */
    void unsubscribe(String service, DiscoveryNameResolver resolver) {
        synchronized (feeds) {
            ServiceFeed feed = feeds.get(service);
            if (feed != null && feed.remove(resolver)) {
                feeds.remove(service);
                feed.stop();
            }
        }
    }

    @Override
    public String toString() {
        return "DiscoveryNameResolverProvider{" + targetScheme + ":///<service> via " + registry + ", endpoints "
                + endpointScheme + "://}";
    }

    /** The default address of an endpoint: its host resolved (an IP literal needs no lookup) and its port. */
    static InetSocketAddress inetAddress(URI endpoint) {
        try {
            return new InetSocketAddress(InetAddress.getByName(endpoint.getHost()), endpoint.getPort());
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("host " + endpoint.getHost() + " does not resolve", e);
        }
    }

    /**
     * Configures a {@link DiscoveryNameResolverProvider}. Not thread-safe.
     */
    public static final class Builder {
        private final Registry registry;
        private String targetScheme = DEFAULT_TARGET_SCHEME;
        private String endpointScheme = PLAINTEXT_ENDPOINT_SCHEME;
        private Duration firstListWait = DEFAULT_FIRST_LIST_WAIT;
        private int priority = DEFAULT_PRIORITY;
        private Class<? extends SocketAddress> addressType = InetSocketAddress.class;
        private Function<URI, ? extends SocketAddress> addresses = DiscoveryNameResolverProvider::inetAddress;

        private Builder(Registry registry) {
            this.registry = Objects.requireNonNull(registry, "registry");
        }

        /**
         * Sets the endpoint scheme: per instance, the first endpoint with this scheme is dialled.
         *
         * @param scheme {@value #PLAINTEXT_ENDPOINT_SCHEME} (the default) for plaintext channels,
         *     {@value #TLS_ENDPOINT_SCHEME} for TLS ones, or any lower-case URI scheme
         * @return this builder
         * @throws InvalidOptionException when the scheme is not a lower-case URI scheme
         */
        public Builder endpointScheme(String scheme) {
            this.endpointScheme = scheme("endpointScheme", scheme);
            return this;
        }

        /**
         * Sets the target scheme this provider answers, for an application that resolves through several registries
         * ({@code etcd:///greeter}, {@code nacos:///greeter}) or already has another {@code discovery} resolver.
         *
         * @param scheme a lower-case URI scheme; {@value #DEFAULT_TARGET_SCHEME} by default
         * @return this builder
         * @throws InvalidOptionException when the scheme is not a lower-case URI scheme
         */
        public Builder targetScheme(String scheme) {
            this.targetScheme = scheme("targetScheme", scheme);
            return this;
        }

        /**
         * Sets how long a new resolver waits for the registry's first list. Until then RPCs wait (grpc buffers them
         * until the first resolution); after it, with no list yet, the resolver reports that the registry did not
         * answer, so that RPCs fail fast with that reason, and reports the list when it comes.
         *
         * @param wait positive; {@link #DEFAULT_FIRST_LIST_WAIT} (5 s) by default
         * @return this builder
         * @throws InvalidOptionException when the wait is null, zero or negative
         */
        public Builder firstListWait(Duration wait) {
            if (wait == null || wait.isNegative() || wait.isZero()) {
                throw new InvalidOptionException("firstListWait", "firstListWait must be positive (was " + wait + ")");
            }
            this.firstListWait = wait;
            return this;
        }

        /**
         * Sets the provider's priority among providers of the same scheme in one {@link NameResolverRegistry}.
         *
         * @param priority 0 to 10; {@value #DEFAULT_PRIORITY} by default, as grpc's own providers
         * @return this builder
         * @throws InvalidOptionException when out of range
         */
        public Builder priority(int priority) {
            if (priority < 0 || priority > 10) {
                throw new InvalidOptionException("priority", "priority must be 0 to 10 (was " + priority + ")");
            }
            this.priority = priority;
            return this;
        }

        /**
         * Sets how an endpoint becomes a socket address, for transports other than the network ones: in-process
         * channels in tests ({@code InProcessSocketAddress}), Unix domain sockets. By default the endpoint's host is
         * resolved (an IP literal without a lookup) into an {@link InetSocketAddress}. The function runs on the
         * watch thread, never on grpc's threads; an exception or {@code null} leaves that endpoint out (logged once)
         * and counts it as unusable.
         *
         * @param type the type of every address the function returns; grpc chooses a transport that supports it
         * @param addresses the function
         * @param <A> the address type
         * @return this builder
         */
        public <A extends SocketAddress> Builder socketAddresses(Class<A> type, Function<URI, A> addresses) {
            this.addressType = Objects.requireNonNull(type, "type");
            this.addresses = Objects.requireNonNull(addresses, "addresses");
            return this;
        }

        /**
         * Builds the provider.
         *
         * @return the provider; register it in the {@link NameResolverRegistry} of the channels that should use it
         */
        public DiscoveryNameResolverProvider build() {
            return new DiscoveryNameResolverProvider(this);
        }

        private static String scheme(String option, String scheme) {
            if (scheme == null || !SCHEME.matcher(scheme).matches()) {
                throw new InvalidOptionException(option, option + " must be a lower-case URI scheme such as grpc "
                        + "(was " + scheme + ")");
            }
            return scheme;
        }
    }
}
