using System;
using System.Threading;
using SvdQuant.Generation;

namespace SvdQuant.Samples.Threading;

/// <summary>Where a <see cref="GenerationJob"/> is.</summary>
public enum JobState
{
    /// <summary>Waiting for the worker.</summary>
    Queued,

    /// <summary>Generating on the worker thread.</summary>
    Running,

    /// <summary>Done: <see cref="GenerationJob.Image"/> is set.</summary>
    Completed,

    /// <summary>Cancelled by <see cref="GenerationJob.Cancel"/> or by the worker's disposal.</summary>
    Cancelled,

    /// <summary>Failed: <see cref="GenerationJob.Error"/> is set.</summary>
    Failed,
}

/// <summary>
/// One picture asked of a <see cref="GenerationWorker"/>. Its state and results are written by the worker
/// thread and may be read from any thread; once <see cref="IsFinished"/> they no longer change.
/// </summary>
public sealed class GenerationJob
{
    private readonly CancellationTokenSource _cancel = new();
    private int _state = (int)JobState.Queued;

    internal GenerationJob(int id, FluxPrompt prompt, GenerationOptions? options)
    {
        Id = id;
        Prompt = prompt;
        Options = options;
    }

    /// <summary>1 for the worker's first job, then counting up.</summary>
    public int Id { get; }

    /// <summary>The prompt.</summary>
    public FluxPrompt Prompt { get; }

    /// <summary>The options; null for the model's defaults.</summary>
    public GenerationOptions? Options { get; }

    /// <summary>Where the job is.</summary>
    public JobState State => (JobState)Volatile.Read(ref _state);

    /// <summary>Completed, cancelled or failed.</summary>
    public bool IsFinished => State >= JobState.Completed;

    /// <summary>The picture, RGBA8, top row first, once <see cref="JobState.Completed"/>.</summary>
    public RgbaImage? Image { get; private set; }

    /// <summary>Why it failed, once <see cref="JobState.Failed"/>.</summary>
    public Exception? Error { get; private set; }

    internal CancellationToken Token => _cancel.Token;

    /// <summary>Asks the worker to stop this job: before it starts, or after the step it is in. Safe from any thread, at any time.</summary>
    public void Cancel() => _cancel.Cancel(); // never disposed (it holds no timer or wait handle), so never too late

    internal void Start() => Volatile.Write(ref _state, (int)JobState.Running);

    internal void Finish(JobState state, RgbaImage? image = null, Exception? error = null)
    {
        Image = image;
        Error = error;
        Volatile.Write(ref _state, (int)state); // published after the results
    }
}
