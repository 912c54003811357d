package job

// SpillFilesCreated returns the number of spill files mappers have created in this process, so
// that tests can check that a small budget really spills.
func SpillFilesCreated() int64 { return spillFilesCreated.Load() }
