package io.roster.servicecomb;

import io.roster.testkit.NullArguments;
import org.junit.jupiter.api.Test;

class ServiceCombBuilderNullsTest {

    @Test
    void everyNullBuilderArgumentIsRefusedNamingTheOption() {
        NullArguments.assertRefusedByEverySetter(ServiceCombRegistry::builder);
    }
}
