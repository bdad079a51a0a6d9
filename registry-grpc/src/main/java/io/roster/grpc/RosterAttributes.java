package io.roster.grpc;

import io.grpc.Attributes;
import io.grpc.EquivalentAddressGroup;
import io.roster.ServiceInstance;

import java.net.URI;

/**
 * The attributes {@link DiscoveryNameResolverProvider}'s resolvers attach to each address ({@link
 * EquivalentAddressGroup#getAttributes()}), so that a load-balancing policy, {@code roster}'s or one of the
 * application's, sees what the registry says about the instance behind it. A change of any of them (a new version, a
 * metadata-only change such as a new weight) makes the resolver report the addresses again with the new values.
 *
 * <p>Each address also carries {@link EquivalentAddressGroup#ATTR_AUTHORITY_OVERRIDE} = the service name, the
 * authority (and TLS server name) to use with the instance, as Kratos's resolver sets it.
 */
public final class RosterAttributes {
    /** The whole instance, as the registry lists it. */
    public static final Attributes.Key<ServiceInstance> INSTANCE = Attributes.Key.create("io.roster.instance");
    /** The endpoint the address was made from: the instance's first endpoint of the resolver's scheme. */
    public static final Attributes.Key<URI> ENDPOINT = Attributes.Key.create("io.roster.endpoint");
    /** The instance's version; empty when it has none. */
    public static final Attributes.Key<String> VERSION = Attributes.Key.create("io.roster.version");
    /** The instance's {@value #ZONE_KEY} metadata; absent when it has none. */
    public static final Attributes.Key<String> ZONE = Attributes.Key.create("io.roster.zone");
    /**
     * The instance's weight, from its {@value io.roster.select.Node#WEIGHT_KEY} metadata read as the
     * {@code io.roster.select} balancers read it ({@link io.roster.select.Node#weight(String)}): 100 when absent or
     * unreadable, 0 when negative.
     */
    public static final Attributes.Key<Integer> WEIGHT = Attributes.Key.create("io.roster.weight");

    /** The metadata key read into {@link #ZONE}. */
    public static final String ZONE_KEY = "zone";

    private RosterAttributes() {
    }
}
