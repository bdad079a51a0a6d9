package io.roster.grpc;

import io.grpc.LoadBalancer;
import io.grpc.LoadBalancerProvider;
import io.grpc.NameResolver.ConfigOrError;
import io.grpc.Status;

import java.util.Map;

/**
 * The {@code roster} load-balancing policy: picks among the READY subchannels with {@code io.roster.select}
 * (round-robin, random, smooth weighted round-robin, P2C/EWMA, least-requests), after the version and metadata
 * filters of its {@link RosterPolicy}, and feeds the load-aware balancers each call's outcome and latency through a
 * stream tracer. Select it like grpc's own policies, through the service config
 * ({@code {"loadBalancingConfig": [{"roster": {"balancer": "p2c"}}]}}, see {@link RosterPolicy}) or
 * {@code ManagedChannelBuilder.defaultLoadBalancingPolicy("roster")}; {@link RosterChannels} does the latter.
 *
 * <p>Registered in grpc's default {@code LoadBalancerRegistry} through {@code ServiceLoader}
 * ({@code META-INF/services/io.grpc.LoadBalancerProvider}): a policy is stateless until a channel creates one, so
 * unlike the name resolver it needs nothing from the application. Made for addresses from
 * {@link DiscoveryNameResolverProvider} (each carries its instance, {@link RosterAttributes#INSTANCE}).
 */
public final class RosterLoadBalancerProvider extends LoadBalancerProvider {
    /** The policy name in service configs. */
    public static final String POLICY_NAME = "roster";

    /** Creates the provider; {@code ServiceLoader} does so. */
    public RosterLoadBalancerProvider() {
    }

    @Override
    public boolean isAvailable() {
        return true;
    }

    @Override
    public int getPriority() {
        return 5;
    }

    @Override
    public String getPolicyName() {
        return POLICY_NAME;
    }

    @Override
    public LoadBalancer newLoadBalancer(LoadBalancer.Helper helper) {
        return new RosterLoadBalancer(helper);
    }

    /**
     * Parses the policy's JSON configuration into a {@link RosterPolicy}.
     *
     * @param rawConfig the {@code "roster"} entry of the service config
     * @return the configuration, or an {@code UNAVAILABLE} error naming the bad key
     */
    @Override
    public ConfigOrError parseLoadBalancingPolicyConfig(Map<String, ?> rawConfig) {
        try {
            return ConfigOrError.fromConfig(RosterPolicy.fromJson(rawConfig));
        } catch (RuntimeException e) {
            return ConfigOrError.fromError(Status.UNAVAILABLE.withCause(e)
                    .withDescription("invalid config of the roster policy: " + e.getMessage()));
        }
    }
}
