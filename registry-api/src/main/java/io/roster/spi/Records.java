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
    private ServiceInstance[] items; // sorted's instances, in the same order
    private List<ServiceInstance> list;

    private Records(Map<String, ServiceInstance> byKey, Entry[] sorted) {
        this.byKey = byKey;
        this.sorted = sorted;
        this.items = new ServiceInstance[sorted.length];
        for (int i = 0; i < sorted.length; i++) {
            items[i] = sorted[i].instance;
        }
        this.list = new Snapshot(items);
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
     * Applies changes: removals first, then puts. Positions are found by binary search and the unchanged runs
     * between them are block copies, so the cost is O(k log n) comparisons plus one copy of n references.
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
        int[] dropAt = new int[drop.size()];
        int drops = 0;
        for (Entry e : drop) {
            int at = Arrays.binarySearch(sorted, e, ENTRY_ORDER);
            if (at >= 0) {
                dropAt[drops++] = at;
            }
        }
        Arrays.sort(dropAt, 0, drops);
        add.sort(ENTRY_ORDER);
        int[] addAt = new int[add.size()];
        for (int i = 0; i < addAt.length; i++) {
            int at = Arrays.binarySearch(sorted, add.get(i), ENTRY_ORDER);
            addAt[i] = at >= 0 ? at : -at - 1; // found: the old form of the same key, dropped right after
        }
        int n = sorted.length;
        Entry[] nextSorted = new Entry[n - drops + addAt.length];
        ServiceInstance[] nextItems = new ServiceInstance[nextSorted.length];
        int src = 0;
        int dst = 0;
        int d = 0;
        int a = 0;
        while (d < drops || a < addAt.length) {
            int nextDrop = d < drops ? dropAt[d] : Integer.MAX_VALUE;
            int nextAdd = a < addAt.length ? addAt[a] : Integer.MAX_VALUE;
            int stop = Math.min(nextDrop, nextAdd);
            System.arraycopy(sorted, src, nextSorted, dst, stop - src);
            System.arraycopy(items, src, nextItems, dst, stop - src);
            dst += stop - src;
            src = stop;
            if (nextAdd <= nextDrop) {
                nextSorted[dst] = add.get(a);
                nextItems[dst++] = add.get(a++).instance;
            } else {
                src++; // the dropped entry
                d++;
            }
        }
        System.arraycopy(sorted, src, nextSorted, dst, n - src);
        System.arraycopy(items, src, nextItems, dst, n - src);
        sorted = nextSorted;
        items = nextItems;
        list = new Snapshot(items);
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
