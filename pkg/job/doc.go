// Package job holds what a MapReduce job is, independently of how the cluster runs it: the job
// spec and task descriptions that travel over RPC, the Mapper and Reducer of every built-in job,
// the record format of partials and outputs, the k-way merges that reduce and print them, hash
// partitioning, and the cutting of uploaded documents into map tasks at line boundaries.
//
// The data path of one job is:
//
//	Cutter (upload) → Task → Mapper.Map … Mapper.Finish → one sorted partial per partition
//	→ ReducePartition (merge + Reducer.Reduce) → one part per partition → MergeOutput or WriteLines
//
// A mapper holds at most its MapEnv.Memory of combined output; past it, it spills sorted runs to
// MapEnv.TempDir and Finish merges them back, combining equal keys (Combiner). That is the only
// disk this package touches; nothing here touches the network or a clock, so every step is
// tested in-process. Range-partitioned jobs (sort) take their bounds from a sample of the input
// (SampleLines, Sampler) that the caller stores in Spec.Bounds.
package job
