package io.roster.grpc;

import io.grpc.EquivalentAddressGroup;
import io.grpc.NameResolver;
import io.grpc.StatusOr;
import io.grpc.SynchronizationContext;
import io.roster.grpc.ServiceFeed.Resolution;

import java.util.List;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The resolver of one channel's {@code discovery:///<service>} target. It follows its provider's shared watch of
 * the service ({@link ServiceFeed}) and reports each resolution to the channel; all its state lives on the
 * channel's {@link SynchronizationContext}.
 */
final class DiscoveryNameResolver extends NameResolver {
    private final DiscoveryNameResolverProvider provider;
    private final String service;
    private final SynchronizationContext sync;
    private final ScheduledExecutorService scheduler;

    // Synchronization context only.
    private Listener2 listener;
    /** What was reported last, reported again by refresh(); null until the first list or the first-list timeout. */
    private Resolution current;
    private SynchronizationContext.ScheduledHandle firstListTimer;
    private boolean shutdown;

    DiscoveryNameResolver(DiscoveryNameResolverProvider provider, String service, Args args) {
        this.provider = provider;
        this.service = service;
        this.sync = args.getSynchronizationContext();
        this.scheduler = args.getScheduledExecutorService();
    }

    /** The service name: the channel's authority, and the TLS server name, as in Kratos. */
    @Override
    public String getServiceAuthority() {
        return service;
    }

    @Override
    public void start(Listener2 listener) {
        if (this.listener != null) {
            throw new IllegalStateException("already started");
        }
        this.listener = listener;
        if (shutdown) {
            return;
        }
        // Until the first list, grpc holds RPCs back; past this bound they fail fast with the reason instead.
        firstListTimer = sync.schedule(this::firstListLate, provider.firstListWait().toNanos(), TimeUnit.NANOSECONDS,
                scheduler);
        provider.subscribe(service, this);
    }

    /** Called by the feed, on its thread or a subscriber's: applies the resolution on the channel's context. */
    void deliver(Resolution resolution) {
        sync.execute(() -> {
            if (shutdown) {
                return;
            }
            cancelTimer();
            current = resolution;
            report(resolution);
        });
    }

    private void firstListLate() {
        firstListTimer = null;
        if (shutdown || current != null) {
            return;
        }
        current = ServiceFeed.unavailable(service, "registry " + provider.registry() + " did not answer within "
                + provider.firstListWait().toMillis() + " ms (unreachable?); nothing is known yet");
        report(current);
    }

    /** Reports the current state again (never re-reads: the watch already delivers every change). */
    @Override
    public void refresh() {
        sync.execute(() -> {
            if (!shutdown && current != null) {
                report(current);
            }
        });
    }

    @Override
    public void shutdown() {
        if (shutdown) {
            return;
        }
        shutdown = true;
        cancelTimer();
        if (listener != null) {
            provider.unsubscribe(service, this);
        }
    }

    private void report(Resolution resolution) {
        StatusOr<List<EquivalentAddressGroup>> addresses = resolution.hasAddresses()
                ? StatusOr.fromValue(resolution.addresses())
                : StatusOr.fromStatus(resolution.error());
        // The status onResult2 returns (a policy refusing the addresses) needs nothing from us: the channel retries
        // by calling refresh() with backoff, which reports the current state again.
        listener.onResult2(ResolutionResult.newBuilder().setAddressesOrError(addresses).build());
    }

    private void cancelTimer() {
        if (firstListTimer != null) {
            firstListTimer.cancel();
            firstListTimer = null;
        }
    }

    @Override
    public String toString() {
        return "DiscoveryNameResolver{" + service + " via " + provider.registry() + '}';
    }
}
