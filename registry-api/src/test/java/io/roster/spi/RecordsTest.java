package io.roster.spi;

import io.roster.ServiceInstance;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;

import static org.assertj.core.api.Assertions.assertThat;

class RecordsTest {

    @Test
    void randomChangesAlwaysGiveTheListAFullSortWouldGive() {
        Random random = new Random(42);
        Map<String, ServiceInstance> model = new HashMap<>();
        Records records = Records.of(Map.of());
        for (int round = 0; round < 2_000; round++) {
            Map<String, ServiceInstance> put = new HashMap<>();
            Set<String> removed = new TreeSet<>();
            int changes = 1 + random.nextInt(round % 50 == 0 ? 40 : 4);
            for (int c = 0; c < changes; c++) {
                String key = "/k/" + random.nextInt(60);
                if (random.nextInt(3) == 0) {
                    removed.add(key);
                    put.remove(key);
                } else {
                    // Ids collide across keys on purpose: two records may carry one id.
                    put.put(key, ServiceInstance.builder().name("svc").id("id-" + random.nextInt(40))
                            .version("v" + random.nextInt(3)).build());
                    removed.remove(key);
                }
            }
            List<ServiceInstance> before = records.list();
            boolean changed = records.apply(put, removed);
            removed.forEach(model::remove);
            model.putAll(put);

            // Records with one id and name are ordered by their keys.
            List<Map.Entry<String, ServiceInstance>> entries = new ArrayList<>(model.entrySet());
            entries.sort(Map.Entry.<String, ServiceInstance>comparingByValue(WatchHub.ORDER)
                    .thenComparing(Map.Entry.comparingByKey()));
            List<ServiceInstance> expected = new ArrayList<>();
            entries.forEach(e -> expected.add(e.getValue()));
            assertThat(records.list()).as("round %d", round).isEqualTo(expected);
            if (!before.equals(expected)) {
                // (A change that leaves an equal list may be reported: the hub compares before waking anyone.)
                assertThat(changed).as("round %d reports the change", round).isTrue();
            }
        }
    }

    @Test
    void theListOfAResetIsSortedByIdThenName() {
        ServiceInstance b = ServiceInstance.builder().name("svc").id("b").build();
        ServiceInstance a = ServiceInstance.builder().name("svc").id("a").build();
        Records records = Records.of(Map.of("/2", b, "/1", a));
        assertThat(records.list()).containsExactly(a, b);
        assertThat(records.list()).isSortedAccordingTo(Comparator.comparing(ServiceInstance::id));
    }
}
