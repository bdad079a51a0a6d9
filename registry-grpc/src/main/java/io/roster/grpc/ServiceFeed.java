package io.roster.grpc;

import io.grpc.Attributes;
import io.grpc.EquivalentAddressGroup;
import io.grpc.Status;
import io.roster.RegistryClosedException;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.WatcherClosedException;
import io.roster.select.Node;
import io.roster.spi.Backoff;
import io.roster.spi.BadRecords;
import io.roster.spi.DaemonThreadFactory;
import io.roster.spi.Failures;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.SocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * One watch of one service, shared by every resolver of a {@link DiscoveryNameResolverProvider} that resolves it:
 * a thread that turns each list of the {@link Watcher} into a {@link Resolution} (addresses, or the reason there are
 * none) once, and hands it to each resolver, which applies it on its channel's synchronization context.
 */
final class ServiceFeed implements Runnable {
    private static final Logger LOG = LoggerFactory.getLogger(ServiceFeed.class);

    private final DiscoveryNameResolverProvider provider;
    private final String service;
    private final Thread thread;

    private final Object lock = new Object();
    /** Guarded by lock. */
    private final List<DiscoveryNameResolver> subscribers = new ArrayList<>();
    /** The last resolution, handed to resolvers that join later. Guarded by lock. */
    private Resolution last;

    private volatile boolean stopped;
    private volatile Watcher watcher;

    ServiceFeed(DiscoveryNameResolverProvider provider, String service) {
        this.provider = provider;
        this.service = service;
        this.thread = new DaemonThreadFactory("roster-grpc-watch-" + service).newThread(this);
    }

    void start() {
        thread.start();
    }

    /** Adds a resolver and hands it the current resolution, if there is one yet. */
    void add(DiscoveryNameResolver resolver) {
        Resolution now;
        synchronized (lock) {
            subscribers.add(resolver);
            now = last;
        }
        if (now != null) {
            resolver.deliver(now);
        }
    }

    /** Removes a resolver; returns whether none is left. */
    boolean remove(DiscoveryNameResolver resolver) {
        synchronized (lock) {
            subscribers.remove(resolver);
            return subscribers.isEmpty();
        }
    }

    /** Ends the watch: closes the watcher, which ends a waiting {@code next()}, and wakes a backoff sleep. */
    void stop() {
        stopped = true;
        Watcher current = watcher;
        if (current != null) {
            current.close();
        }
        thread.interrupt();
    }

    @Override
    public void run() {
        Backoff backoff = new Backoff(Duration.ofMillis(100), Duration.ofSeconds(5));
        boolean failing = false;
        while (!stopped) {
            Watcher opened;
            try {
                opened = provider.registry().watch(service);
            } catch (RegistryClosedException e) {
                publish(unavailable("registry " + provider.registry() + " is closed"), false);
                return;
            } catch (RuntimeException e) {
                if (stopped) {
                    return; // stop() interrupted the call
                }
                // Once at WARN per outage, then at DEBUG: the retries go on every few seconds.
                if (!failing) {
                    LOG.warn("Watching service '{}' in {} failed, trying again: {}", service, provider.registry(),
                            Failures.describe(e));
                } else {
                    LOG.debug("Watching service '{}' in {} failed again: {}", service, provider.registry(),
                            Failures.describe(e));
                }
                failing = true;
                publish(unavailable("registry " + provider.registry() + " is unreachable: "
                        + Failures.describe(e)), false);
                if (!pause(backoff.next())) {
                    return;
                }
                continue;
            }
            failing = false;
            watcher = opened;
            try {
                if (stopped) {
                    return;
                }
                while (true) {
                    List<ServiceInstance> list = opened.next();
                    backoff.reset();
                    publish(resolve(list), true);
                }
            } catch (InterruptedException e) {
                return; // stop()
            } catch (WatcherClosedException e) {
                // stop(), or the registry was closed under us: watch() again, after a pause, says which
                if (!stopped && !pause(backoff.next())) {
                    return;
                }
            } catch (RuntimeException e) {
                if (stopped) {
                    return;
                }
                LOG.error("Following service '{}' in {} failed, starting over", service, provider.registry(),
                        Failures.redacted(e));
                if (!pause(backoff.next())) {
                    return;
                }
            } finally {
                opened.close();
                watcher = null;
            }
        }
    }

    /**
     * Publishes a resolution. A failure that is not about the list itself (registry unreachable, closed) replaces
     * only a failure: while a list is known, it stays, as a watcher keeps its list through an outage.
     */
    private void publish(Resolution resolution, boolean fromList) {
        List<DiscoveryNameResolver> targets;
        synchronized (lock) {
            if (stopped || (!fromList && last != null && last.hasAddresses())) {
                return;
            }
            last = resolution;
            targets = List.copyOf(subscribers);
        }
        for (DiscoveryNameResolver resolver : targets) {
            resolver.deliver(resolution);
        }
    }

    private boolean pause(Duration delay) {
        try {
            Thread.sleep(delay.toMillis());
            return !stopped;
        } catch (InterruptedException e) {
            return false;
        }
    }

    /** Turns a list into addresses, or into the reason there are none. */
    Resolution resolve(List<ServiceInstance> list) {
        String scheme = provider.endpointScheme();
        if (list.isEmpty()) {
            return unavailable("registry " + provider.registry() + " lists no instance of it");
        }
        Map<SocketAddress, EquivalentAddressGroup> byAddress = new LinkedHashMap<>(list.size() * 2);
        Set<String> otherSchemes = new TreeSet<>();
        List<String> unusable = new ArrayList<>();
        for (ServiceInstance instance : list) {
            Optional<URI> endpoint = instance.endpoint(scheme);
            if (endpoint.isEmpty()) {
                for (URI other : instance.endpoints()) {
                    otherSchemes.add(other.getScheme());
                }
                continue;
            }
            SocketAddress address;
            try {
                address = provider.address(endpoint.get());
            } catch (RuntimeException e) {
                unusable.add(endpoint.get().getRawAuthority());
                BadRecords.warnOnce(LOG, "service '" + service + "' in " + provider.registry(), instance,
                        "instance " + instance.id() + " left out: no address for its endpoint " + endpoint.get()
                                + ": " + Failures.describe(e));
                continue;
            }
            // One address once: the first instance in id order keeps it (Kratos de-duplicates by host:port).
            byAddress.putIfAbsent(address, new EquivalentAddressGroup(address, attributes(instance, endpoint.get())));
        }
        if (byAddress.isEmpty()) {
            StringBuilder why = new StringBuilder().append(list.size()).append(" instance(s) listed in registry ")
                    .append(provider.registry()).append(", none with a usable '").append(scheme).append("' endpoint");
            if (!otherSchemes.isEmpty()) {
                why.append(" (their endpoints' schemes: ").append(String.join(", ", otherSchemes)).append(')');
            }
            if (!unusable.isEmpty()) {
                why.append(" (no address for ").append(String.join(", ", unusable)).append(')');
            }
            return unavailable(why.toString());
        }
        return Resolution.of(List.copyOf(byAddress.values()));
    }

    private Attributes attributes(ServiceInstance instance, URI endpoint) {
        Attributes.Builder attributes = Attributes.newBuilder()
                .set(EquivalentAddressGroup.ATTR_AUTHORITY_OVERRIDE, service)
                .set(RosterAttributes.INSTANCE, instance)
                .set(RosterAttributes.ENDPOINT, endpoint)
                .set(RosterAttributes.VERSION, instance.version())
                .set(RosterAttributes.WEIGHT, Node.weight(instance.metadata().get(Node.WEIGHT_KEY)));
        String zone = instance.metadata().get(RosterAttributes.ZONE_KEY);
        if (zone != null) {
            attributes.set(RosterAttributes.ZONE, zone);
        }
        return attributes.build();
    }

    private Resolution unavailable(String why) {
        return unavailable(service, why);
    }

    /** The error of a service with nothing to call; the description names the service and says why. */
    static Resolution unavailable(String service, String why) {
        return Resolution.of(Status.UNAVAILABLE.withDescription("no instance of service '" + service + "' to call: "
                + why));
    }

    /** What a resolver reports: the addresses, or the error saying why there are none. Immutable. */
    static final class Resolution {
        private final List<EquivalentAddressGroup> addresses;
        private final Status error;

        private Resolution(List<EquivalentAddressGroup> addresses, Status error) {
            this.addresses = addresses;
            this.error = error;
        }

        static Resolution of(List<EquivalentAddressGroup> addresses) {
            return new Resolution(addresses, null);
        }

        static Resolution of(Status error) {
            return new Resolution(null, error);
        }

        boolean hasAddresses() {
            return addresses != null;
        }

        /** The addresses; only when {@link #hasAddresses()}. */
        List<EquivalentAddressGroup> addresses() {
            return addresses;
        }

        /** The error; only when not {@link #hasAddresses()}. */
        Status error() {
            return error;
        }

        @Override
        public String toString() {
            return addresses != null ? addresses.toString() : error.toString();
        }
    }
}
