package io.roster.etcd;

import io.etcd.jetcd.Client;
import io.roster.Registries;
import io.roster.testkit.EtcdServer;

import java.util.List;
import java.util.stream.Collectors;

/** jetcd and registry helpers on top of the shared {@link EtcdServer} fixture. */
final class EtcdTests {
    private EtcdTests() {
    }

    /** A plain jetcd client on a plain-text member, as another program (a Go service) would write and read. */
    static Client client(EtcdServer member) {
        return Client.builder().endpoints(member.url()).build();
    }

    /** Opens a registry on one member through {@code Registries}, as users do. */
    static EtcdRegistry registry(EtcdServer member, String pathAndQuery) {
        return registry(List.of(member), pathAndQuery);
    }

    /**
     * Opens a registry on some members of a cluster.
     *
     * @param members the members whose endpoints the registry gets
     * @param pathAndQuery such as {@code /microservices?ttl=2s}
     * @return the registry
     */
    static EtcdRegistry registry(List<EtcdServer> members, String pathAndQuery) {
        String hosts = members.stream().map(EtcdServer::endpoint).collect(Collectors.joining(","));
        return (EtcdRegistry) Registries.open("etcd://" + hosts + pathAndQuery);
    }
}
