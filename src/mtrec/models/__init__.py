"""Multi-task recommenders sharing one interface (:mod:`mtrec.models.base`), chosen by
``ModelSpec.architecture`` (:mod:`mtrec.models.networks`); their specs and saved form. The
package imports nothing itself, so that naming a saved model (:mod:`mtrec.models.serialization`)
does not load torch."""
