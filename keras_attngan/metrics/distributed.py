"""Running a feature network under a `tf.distribute` strategy, batch in, features out, in order.

`ReplicaMap(fn, strategy)(*inputs)` splits the leading (batch) dimension of the inputs evenly across the strategy's
replicas (`experimental_distribute_values_from_function`), runs `fn` once per replica inside one `tf.function`
(`strategy.run`), and concatenates the per-replica outputs (`experimental_local_results`) back in input order. A batch
that does not divide evenly is padded by repeating its rows from the start (`np.resize` order) and the padding's
outputs dropped, so every replica gets the same shape (as TPUs need) and results do not depend on the replica count
(for per-example functions). With no strategy given, the current one (`tf.distribute.get_strategy()`) is used
at call time; under the default strategy this is a plain call of `fn` in a `tf.function`.
"""

import tensorflow as tf

from keras_attngan.utils.graphs import graph_function

__all__ = ["ReplicaMap"]


class ReplicaMap:
    """``fn(*per_replica_inputs) -> tensor (or nest of tensors) with the batch as leading dim``, distributed.

    ``multiple``: each replica's share is a multiple of this (e.g. the discriminator's minibatch-stddev group).
    """

    def __init__(self, fn, strategy=None, multiple=1):
        self.fn, self._strategy, self.multiple = fn, strategy, int(multiple)
        self._steps = {}  # one tf.function per strategy object

    @property
    def strategy(self):
        return self._strategy or tf.distribute.get_strategy()

    def _step(self, strategy):
        key = id(strategy)
        if key not in self._steps:
            @graph_function  # one trace per batch shape (a run has few: the batch size and the remainder)
            def step(per_replica):
                return strategy.run(self.fn, args=per_replica)

            self._steps[key] = (strategy, step)  # keep the strategy alive so its id stays unique
        return self._steps[key][1]

    def __call__(self, *inputs):
        strategy = self.strategy
        inputs = [tf.convert_to_tensor(x) for x in inputs]
        n = int(inputs[0].shape[0])
        if any(int(x.shape[0]) != n for x in inputs):
            raise ValueError(f"inputs differ in batch size: {[x.shape for x in inputs]}")
        if n == 0:
            raise ValueError("empty batch")
        replicas = strategy.num_replicas_in_sync
        unit = replicas * self.multiple
        total = -(-n // unit) * unit
        if total != n:
            index = tf.range(total) % n  # np.resize order: repeat the batch from its start
            inputs = [tf.gather(x, index) for x in inputs]
        share = total // replicas

        def value_fn(ctx):
            start = ctx.replica_id_in_sync_group * share
            return tuple(x[start:start + share] for x in inputs)

        per_replica = strategy.experimental_distribute_values_from_function(value_fn)
        outputs = self._step(strategy)(per_replica)
        local = [strategy.experimental_local_results(o) for o in tf.nest.flatten(outputs)]
        if len(local[0]) != replicas:
            raise ValueError("ReplicaMap gathers the results of local replicas only: use it on one host")
        merged = [tf.concat([tf.convert_to_tensor(r) for r in results], axis=0)[:n] for results in local]
        return tf.nest.pack_sequence_as(outputs, merged)
