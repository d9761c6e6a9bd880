using System;
using SvdQuant.Generation;

namespace SvdQuant.Samples.Threading;

/// <summary>What a <see cref="WorkerEvent"/> reports.</summary>
public enum WorkerEventKind
{
    /// <summary>The engine and model are loaded; jobs run from now on.</summary>
    Loaded,

    /// <summary>Loading failed (<see cref="WorkerEvent.Error"/>); every job fails.</summary>
    LoadFailed,

    /// <summary>A job started running.</summary>
    Started,

    /// <summary>A job finished a sampling step (<see cref="WorkerEvent.Progress"/>).</summary>
    Progress,

    /// <summary>A job made its image (<see cref="GenerationJob.Image"/>).</summary>
    Completed,

    /// <summary>A job was cancelled, before or while it ran.</summary>
    Cancelled,

    /// <summary>A job failed (<see cref="WorkerEvent.Error"/>).</summary>
    Failed,
}

/// <summary>One thing the worker did, queued on the worker thread and read on the main thread by <see cref="GenerationWorker.TryPoll"/>.</summary>
public sealed class WorkerEvent
{
    internal WorkerEvent(WorkerEventKind kind, GenerationJob? job = null, GenerationProgress progress = default, Exception? error = null)
    {
        Kind = kind;
        Job = job;
        Progress = progress;
        Error = error;
    }

    /// <summary>What happened.</summary>
    public WorkerEventKind Kind { get; }

    /// <summary>The job it happened to; null for <see cref="WorkerEventKind.Loaded"/> and <see cref="WorkerEventKind.LoadFailed"/>.</summary>
    public GenerationJob? Job { get; }

    /// <summary>The step, for <see cref="WorkerEventKind.Progress"/>.</summary>
    public GenerationProgress Progress { get; }

    /// <summary>The exception, for <see cref="WorkerEventKind.LoadFailed"/> and <see cref="WorkerEventKind.Failed"/>.</summary>
    public Exception? Error { get; }
}
