using System;
using System.Collections.Concurrent;
using System.Threading;
using SvdQuant.Generation;

namespace SvdQuant.Samples.Threading;

/// <summary>
/// Generates pictures on a thread of its own, as a game engine needs: the main thread never waits on the
/// engine. The worker thread creates the <see cref="Engine"/>, loads the model and runs the jobs one at a
/// time; it is the only thread that touches them. Everything it does becomes a <see cref="WorkerEvent"/>
/// that the main thread reads, in order, with <see cref="TryPoll"/> (call it each frame).
/// <see cref="Dispose"/> cancels every job, waits for the worker thread and frees the model, then the engine.
/// </summary>
public sealed class GenerationWorker : IDisposable
{
    private readonly BlockingCollection<GenerationJob> _jobs = new();
    private readonly ConcurrentQueue<WorkerEvent> _events = new();
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Func<Engine, IImageSource> _load;
    private readonly EngineOptions? _engineOptions;
    private readonly Thread _thread;
    private int _nextId;
    private int _disposed;
    private bool _loaded;

    private GenerationWorker(Func<Engine, IImageSource> load, EngineOptions? engineOptions)
    {
        _load = load;
        _engineOptions = engineOptions;
        _thread = new Thread(Run) { IsBackground = true, Name = "SvdQuant generation" };
        _thread.Start();
    }

    /// <summary>Starts a worker that loads a diffusers FLUX folder (<see cref="FluxPipeline.Load"/>): prompts as text, pictures through the VAE.</summary>
    /// <param name="folder">The pipeline folder (model_index.json, transformer/, vae/, text_encoder/, ...).</param>
    /// <param name="options">Replacement files (e.g. a 4-bit transformer) and precisions; null for the folder as it is.</param>
    /// <param name="engineOptions">The engine's backend, threads and log; null for the defaults.</param>
    public static GenerationWorker ForPipeline(string folder, FluxPipelineOptions? options = null, EngineOptions? engineOptions = null)
    {
        if (folder is null)
        {
            throw new ArgumentNullException(nameof(folder));
        }

        return new GenerationWorker(engine => new PipelineSource(engine, folder, options), engineOptions);
    }

    /// <summary>
    /// Starts a worker that loads a FLUX transformer alone (<see cref="Models.FluxTransformer.Load"/>): prompts as
    /// embeddings (<see cref="FluxPrompt.FromEmbeddings"/>), pictures as the latents' preview (no VAE).
    /// </summary>
    public static GenerationWorker ForTransformer(string model, EngineOptions? engineOptions = null)
    {
        if (model is null)
        {
            throw new ArgumentNullException(nameof(model));
        }

        return new GenerationWorker(engine => new TransformerSource(engine, model), engineOptions);
    }

    /// <summary>True once the model is loaded (after the <see cref="WorkerEventKind.Loaded"/> event was queued).</summary>
    public bool IsLoaded => Volatile.Read(ref _loaded);

    // For the tests: what the worker thread owns, set while it loads.
    internal Engine? Engine { get; private set; }

    internal IImageSource? Source { get; private set; }

    /// <summary>Queues a picture; it runs after the jobs before it. Safe from any thread.</summary>
    /// <param name="prompt">Text for a pipeline worker, embeddings for a transformer worker.</param>
    /// <param name="options">Size, steps, seed, ...; null for the model's defaults.</param>
    /// <exception cref="ObjectDisposedException">The worker is disposed.</exception>
    public GenerationJob Submit(FluxPrompt prompt, GenerationOptions? options = null)
    {
        if (prompt is null)
        {
            throw new ArgumentNullException(nameof(prompt));
        }

        var job = new GenerationJob(Interlocked.Increment(ref _nextId), prompt, options);
        try
        {
            _jobs.Add(job);
        }
        catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException)
        {
            // Adding was completed by Dispose.
            throw new ObjectDisposedException(nameof(GenerationWorker));
        }

        return job;
    }

    /// <summary>The next event the worker queued, oldest first; false when there is none. For the main thread's update loop.</summary>
    public bool TryPoll(out WorkerEvent? workerEvent) => _events.TryDequeue(out workerEvent);

    /// <summary>
    /// Cancels the running and queued jobs, waits for the worker thread to finish its current step and
    /// free the model and the engine, and returns. Calling it again does nothing. Events queued before
    /// remain readable with <see cref="TryPoll"/>.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _shutdown.Cancel();
        _jobs.CompleteAdding();
        _thread.Join(); // no caller code runs on the worker thread, so this never waits on itself

        _jobs.Dispose();
        _shutdown.Dispose();
    }

    // The worker thread: load, run jobs until Dispose, then free what it made, the model before its engine.
    private void Run()
    {
        Engine? engine = null;
        IImageSource? source = null;
        Exception? loadError = null;
        try
        {
            try
            {
                Engine = engine = new Engine(_engineOptions);
                Source = source = _load(engine);
                Volatile.Write(ref _loaded, true);
                _events.Enqueue(new WorkerEvent(WorkerEventKind.Loaded));
            }
            catch (Exception e)
            {
                loadError = e;
                _events.Enqueue(new WorkerEvent(WorkerEventKind.LoadFailed, error: e));
            }

            foreach (GenerationJob job in _jobs.GetConsumingEnumerable())
            {
                RunJob(engine, source, loadError, job);
            }
        }
        finally
        {
            source?.Dispose();
            engine?.Dispose();
        }
    }

    private void RunJob(Engine? engine, IImageSource? source, Exception? loadError, GenerationJob job)
    {
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(job.Token, _shutdown.Token);
        if (cancel.IsCancellationRequested)
        {
            Finish(job, JobState.Cancelled);
            return;
        }

        if (engine is null || source is null)
        {
            Finish(job, JobState.Failed, error: new InvalidOperationException("the model did not load", loadError));
            return;
        }

        job.Start();
        _events.Enqueue(new WorkerEvent(WorkerEventKind.Started, job));
        try
        {
            RgbaImage image = source.Generate(engine, job.Prompt, job.Options, new QueuedProgress(_events, job), cancel.Token);
            Finish(job, JobState.Completed, image);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            Finish(job, JobState.Cancelled);
        }
        catch (Exception e)
        {
            Finish(job, JobState.Failed, error: e);
        }
    }

    private void Finish(GenerationJob job, JobState state, RgbaImage? image = null, Exception? error = null)
    {
        job.Finish(state, image, error);
        WorkerEventKind kind = state switch
        {
            JobState.Completed => WorkerEventKind.Completed,
            JobState.Cancelled => WorkerEventKind.Cancelled,
            _ => WorkerEventKind.Failed,
        };
        _events.Enqueue(new WorkerEvent(kind, job, error: error));
    }

    // Called by the generator on the worker thread after each step: queues the step for the main thread.
    private sealed class QueuedProgress : IProgress<GenerationProgress>
    {
        private readonly ConcurrentQueue<WorkerEvent> _events;
        private readonly GenerationJob _job;

        public QueuedProgress(ConcurrentQueue<WorkerEvent> events, GenerationJob job)
        {
            _events = events;
            _job = job;
        }

        public void Report(GenerationProgress value) => _events.Enqueue(new WorkerEvent(WorkerEventKind.Progress, _job, value));
    }
}
