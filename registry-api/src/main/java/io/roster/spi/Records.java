package io.roster.spi;

import io.roster.ServiceInstance;

import java.util.AbstractList;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.RandomAccess;

/**
 * One watched service's records keyed by the source's record key, with their list sorted as {@link WatchHub}
 * delivers it. A change costs O(k log n) comparisons for k changed records and one copy of the n references of
 * the new list; unchanged instances are never compared again. Not thread-safe: owned by one topic, under its lock.
 */
final class Records {
    private static final Comparator<Entry> ENTRY_ORDER =
            Comparator.<Entry, ServiceInstance>comparing(e -> e.instance, WatchHub.ORDER).thenComparing(e -> e.key);

    private final Map<String, ServiceInstance> byKey;
    private Entry[] sorted;
    private List<ServiceInstance> list;

    private Records(Map<String, ServiceInstance> byKey, Entry[] sorted) {
        this.byKey = byKey;
        this.sorted = sorted;
        this.list = Snapshot.of(sorted);
    }

    static Records of(Map<String, ServiceInstance> records) {
        Map<String, ServiceInstance> byKey = new HashMap<>(records);
        Entry[] sorted = new Entry[byKey.size()];
        int i = 0;
        for (Map.Entry<String, ServiceInstance> e : byKey.entrySet()) {
            sorted[i++] = new Entry(e.getKey(), e.getValue());
        }
        Arrays.sort(sorted, ENTRY_ORDER);
        return new Records(byKey, sorted);
    }

    /** The current list: sorted, immutable, replaced (never changed) by {@link #apply}. */
    List<ServiceInstance> list() {
        return list;
    }

    /**
     * Applies changes: removals first, then puts.
     *
     * @return whether the list changed
     */
    boolean apply(Map<String, ServiceInstance> put, Collection<String> removed) {
        List<Entry> drop = new ArrayList<>();
        List<Entry> add = new ArrayList<>();
        for (String key : removed) {
            ServiceInstance old = byKey.remove(key);
            if (old != null) {
                drop.add(new Entry(key, old));
            }
        }
        for (Map.Entry<String, ServiceInstance> e : put.entrySet()) {
            ServiceInstance old = byKey.put(e.getKey(), e.getValue());
            if (old != null && old.equals(e.getValue())) {
                byKey.put(e.getKey(), old); // keep the instance watchers already hold
                continue;
            }
            if (old != null) {
                drop.add(new Entry(e.getKey(), old));
            }
            add.add(new Entry(e.getKey(), e.getValue()));
        }
        if (drop.isEmpty() && add.isEmpty()) {
            return false;
        }
        boolean[] dropped = new boolean[sorted.length];
        for (Entry e : drop) {
            int at = Arrays.binarySearch(sorted, e, ENTRY_ORDER);
            if (at >= 0) {
                dropped[at] = true;
            }
        }
        add.sort(ENTRY_ORDER);
        Entry[] next = new Entry[sorted.length - drop.size() + add.size()];
        int i = 0;
        int j = 0;
        int n = 0;
        while (i < sorted.length || j < add.size()) {
            if (i < sorted.length && dropped[i]) {
                i++;
            } else if (j == add.size() || (i < sorted.length && ENTRY_ORDER.compare(sorted[i], add.get(j)) < 0)) {
                next[n++] = sorted[i++];
            } else {
                next[n++] = add.get(j++);
            }
        }
        sorted = n == next.length ? next : Arrays.copyOf(next, n);
        list = Snapshot.of(sorted);
        return true;
    }

    private static final class Entry {
        final String key;
        final ServiceInstance instance;

        Entry(String key, ServiceInstance instance) {
            this.key = key;
            this.instance = instance;
        }
    }

    /** An immutable list over an array no one else holds. */
    private static final class Snapshot extends AbstractList<ServiceInstance> implements RandomAccess {
        private final ServiceInstance[] items;

        private Snapshot(ServiceInstance[] items) {
            this.items = items;
        }

        static List<ServiceInstance> of(Entry[] entries) {
            ServiceInstance[] items = new ServiceInstance[entries.length];
            for (int i = 0; i < entries.length; i++) {
                items[i] = entries[i].instance;
            }
            return new Snapshot(items);
        }

        @Override
        public ServiceInstance get(int index) {
            return items[index];
        }

        @Override
        public int size() {
            return items.length;
        }

        @Override
        public boolean equals(Object o) {
            // Sizes first: most changes add or remove, and AbstractList would walk the whole list to find out.
            return o == this || (o instanceof List && ((List<?>) o).size() == items.length && super.equals(o));
        }

        @Override
        public int hashCode() {
            return super.hashCode();
        }
    }
}
