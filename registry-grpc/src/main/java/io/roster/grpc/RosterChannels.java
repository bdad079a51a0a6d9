package io.roster.grpc;

import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannelBuilder;
import io.grpc.NameResolverRegistry;
import io.roster.Registry;
import io.roster.ServiceInstance;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.Objects;

/**
 * Channels to a service of a Roster registry in one line:
 *
 * <pre>{@code
 * ManagedChannel channel = RosterChannels.forService(registry, "greeter").build();
 * GreeterGrpc.GreeterBlockingStub greeter = GreeterGrpc.newBlockingStub(channel);
 * }</pre>
 *
 * <p>The builder targets {@code discovery:///<service>} with a {@link NameResolverRegistry} of its own that holds a
 * {@link DiscoveryNameResolverProvider} bound to the registry (nothing is registered globally), and balances with
 * the {@code roster} policy (round-robin among READY instances unless a service config says otherwise, see
 * {@link RosterPolicy}). Everything else is grpc's builder as usual: deadlines, interceptors,
 * {@code defaultServiceConfig(RosterPolicy...toServiceConfig())}.
 */
public final class RosterChannels {
    private RosterChannels() {
    }

    /**
     * A plaintext channel builder for a service: instances' {@code grpc} endpoints.
     *
     * @param registry the registry, left open by the channel
     * @param service the service name
     * @return a channel builder
     * @throws io.roster.InvalidInstanceException when the service name is not readable
     */
    public static ManagedChannelBuilder<?> forService(Registry registry, String service) {
        return forService(registry, service, InsecureChannelCredentials.create());
    }

    /**
     * A channel builder for a service with the given credentials: with {@link InsecureChannelCredentials} the
     * instances' {@code grpc} endpoints are called, with any other (TLS) credentials their {@code grpcs} endpoints,
     * the service name being the TLS server name (the instances' certificates name it, as for Kratos).
     *
     * @param registry the registry, left open by the channel
     * @param service the service name
     * @param credentials the channel credentials
     * @return a channel builder
     * @throws io.roster.InvalidInstanceException when the service name is not readable
     */
    public static ManagedChannelBuilder<?> forService(Registry registry, String service,
            ChannelCredentials credentials) {
        Objects.requireNonNull(credentials, "credentials");
        String scheme = credentials instanceof InsecureChannelCredentials
                ? DiscoveryNameResolverProvider.PLAINTEXT_ENDPOINT_SCHEME
                : DiscoveryNameResolverProvider.TLS_ENDPOINT_SCHEME;
        return forService(DiscoveryNameResolverProvider.builder(registry).endpointScheme(scheme).build(), service,
                credentials);
    }

    /**
     * A channel builder for a service through a provider of the caller's (its endpoint scheme, first-list wait or
     * address mapping; one provider shared by several channels shares their watches of a service).
     *
     * @param provider the provider
     * @param service the service name
     * @param credentials the channel credentials, matching the provider's endpoint scheme
     * @return a channel builder
     * @throws io.roster.InvalidInstanceException when the service name is not readable
     */
    public static ManagedChannelBuilder<?> forService(DiscoveryNameResolverProvider provider, String service,
            ChannelCredentials credentials) {
        NameResolverRegistry resolvers = new NameResolverRegistry();
        resolvers.register(provider);
        return Grpc.newChannelBuilder(target(provider.getDefaultScheme(), service), credentials, resolvers)
                .defaultLoadBalancingPolicy(RosterLoadBalancerProvider.POLICY_NAME);
    }

    /**
     * The target of a service, such as {@code discovery:///greeter}.
     *
     * @param targetScheme the resolver's scheme, {@value DiscoveryNameResolverProvider#DEFAULT_TARGET_SCHEME} by default
     * @param service the service name
     * @return the target, with characters a URI path cannot hold escaped
     * @throws io.roster.InvalidInstanceException when the service name is not readable
     */
    public static String target(String targetScheme, String service) {
        ServiceInstance.requireReadableName(service);
        try {
            return new URI(targetScheme, "", "/" + service, null, null).toASCIIString();
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("no target for service '" + service + "': " + e.getMessage(), e);
        }
    }
}
