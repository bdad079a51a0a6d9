package io.roster.grpc;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Enumeration;
import java.util.List;
import java.util.Optional;

/**
 * The address a server that listens on every interface ({@code 0.0.0.0}, {@code ::}) advertises: like Kratos's
 * {@code host.Extract}, an address of an interface that is up, but preferring a site-local (private) address, since
 * services are called from inside their network.
 */
final class AdvertisedHost {
    private AdvertisedHost() {
    }

    /** One address of one interface. */
    static final class Candidate {
        final int interfaceIndex;
        final boolean up;
        final boolean loopback;
        final InetAddress address;

        Candidate(int interfaceIndex, boolean up, boolean loopback, InetAddress address) {
            this.interfaceIndex = interfaceIndex;
            this.up = up;
            this.loopback = loopback;
            this.address = address;
        }
    }

    /** Picks among this machine's interfaces; the loopback address when none qualifies. */
    static InetAddress pick() {
        List<Candidate> candidates = new ArrayList<>();
        try {
            Enumeration<NetworkInterface> interfaces = NetworkInterface.getNetworkInterfaces();
            while (interfaces != null && interfaces.hasMoreElements()) {
                NetworkInterface nic = interfaces.nextElement();
                boolean up = nic.isUp();
                boolean loopback = nic.isLoopback();
                Enumeration<InetAddress> addresses = nic.getInetAddresses();
                while (addresses.hasMoreElements()) {
                    candidates.add(new Candidate(nic.getIndex(), up, loopback, addresses.nextElement()));
                }
            }
        } catch (SocketException e) {
            // no interface list: fall back below
        }
        return choose(candidates).orElse(InetAddress.getLoopbackAddress());
    }

    /**
     * The best candidate: on an up, non-loopback interface, not loopback, link-local, wildcard or multicast itself;
     * site-local IPv4 first (10/8, 172.16/12, 192.168/16), then unique-local or site-local IPv6, then any other
     * (global) IPv4, then IPv6; on a tie the interface with the lowest index, then the order given.
     */
    static Optional<InetAddress> choose(List<Candidate> candidates) {
        return candidates.stream()
                .filter(c -> c.up && !c.loopback && usable(c.address))
                .min(Comparator.comparingInt((Candidate c) -> rank(c.address)).thenComparingInt(c -> c.interfaceIndex))
                .map(c -> c.address);
    }

    private static boolean usable(InetAddress address) {
        return !address.isLoopbackAddress() && !address.isLinkLocalAddress() && !address.isAnyLocalAddress()
                && !address.isMulticastAddress();
    }

    private static int rank(InetAddress address) {
        boolean v4 = address instanceof Inet4Address;
        if (v4 && address.isSiteLocalAddress()) {
            return 0;
        }
        if (address instanceof Inet6Address && (address.isSiteLocalAddress() || uniqueLocal(address))) {
            return 1;
        }
        return v4 ? 2 : 3;
    }

    /** fc00::/7, IPv6's private range (the JDK's isSiteLocalAddress knows only the deprecated fec0::/10). */
    private static boolean uniqueLocal(InetAddress address) {
        return (address.getAddress()[0] & 0xfe) == 0xfc;
    }
}
