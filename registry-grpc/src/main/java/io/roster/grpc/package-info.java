/**
 * grpc-java integration: {@link io.roster.grpc.DiscoveryNameResolverProvider} resolves {@code discovery:///<service>}
 * targets through a Roster registry (watch-driven, with named {@code UNAVAILABLE} errors when there is nothing to
 * call), {@link io.roster.grpc.RosterLoadBalancerProvider} is the {@code roster} policy that balances with
 * {@code io.roster.select} among READY subchannels, {@link io.roster.grpc.RosterChannels} builds a channel in one line,
 * and {@link io.roster.grpc.ServerRegistration} registers a server and takes it out without losing calls.
 */
package io.roster.grpc;
