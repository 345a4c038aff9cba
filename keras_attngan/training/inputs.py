"""The run's input: the seeded stream of global batches the step consumes, how it is split between workers,
and the labels it carries.

Elements are reals; (reals, references) when D uses reference attention (Yu et al. 2021 Sec. 3.3: a second,
independently shuffled stream of reals); with ``data.labels``, a dict ``{"image", "label"[, "reference"]}``.

Splitting between workers (multi-worker and multi-host TPU runs): a source sharded into record files with at
least one file per input pipeline (a dataset of ``dataset_tool.py``) is split **by file**: each worker reads
only its own files (tfds's ``ReadConfig.input_context``, the equivalent of ``AutoShardPolicy.FILE``) and
batches its share of every global batch, so no worker reads what another uses. Any other source falls back on
**data** sharding (``AutoShardPolicy.DATA``): every worker builds the same seeded stream of global batches and
keeps its own slice of each, deterministically.
"""

import tensorflow as tf

from keras_attngan.data import build_dataset
from keras_attngan.data.pipeline import file_shards


def input_pipelines(strategy):
    """How many hosts feed the strategy (one input pipeline each): workers of a multi-worker run, hosts of a
    TPU pod slice, else 1."""
    if strategy is None:
        return 1
    hosts = getattr(strategy.extended, "num_hosts", None)  # TPUStrategy
    if hosts:
        return int(hosts)
    from keras_attngan.training.cluster import num_workers

    return num_workers(strategy)


def split_by_file(config, strategy) -> bool:
    """Whether the run's source is read by file on each worker (enough record files for every pipeline)."""
    pipelines = input_pipelines(strategy)
    if pipelines < 2 or config.data.subset:
        return False
    return file_shards(config.data.source, config.data.tfds_data_dir or None) >= pipelines


def make_dataset(config, seed, batch_size=None, shuffle=True, references=False, strategy=None):
    """The training stream of batches (see the module docstring for the element format). With a ``strategy``
    whose workers split the source by file (:func:`split_by_file`), a distributed dataset built on every worker
    from its own files; otherwise a dataset of global batches that the strategy shards by data."""
    d, m = config.data, config.model
    global_batch = batch_size or config.train.batch_size

    def stream(s, batch, context):
        return build_dataset(d.source, m.resolution, m.img_channels, batch, xflip=d.xflip, subset=d.subset,
                             fit=d.fit, skip_bad=d.skip_bad, shuffle=shuffle, seed=s,
                             tfds_data_dir=d.tfds_data_dir or None, labels=d.labels, input_context=context)

    def pipeline(batch, context=None):
        reals = stream(seed, batch, context)
        if not (references or d.labels):
            return reals
        refs = stream(seed + 7919, batch, context) if references else None
        if not d.labels:
            return tf.data.Dataset.zip((reals, refs))
        if refs is None:
            return reals.map(lambda x, y: {"image": x, "label": y})
        return tf.data.Dataset.zip((reals, refs)).map(lambda a, b: {"image": a[0], "label": a[1], "reference": b[0]})

    if strategy is not None and split_by_file(config, strategy):
        def per_worker(context):
            dataset = pipeline(context.get_per_replica_batch_size(global_batch), context)
            options = tf.data.Options()  # already this worker's files: no further sharding
            options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
            return dataset.with_options(options)

        return strategy.distribute_datasets_from_function(per_worker)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return pipeline(global_batch).with_options(options)
