using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;
using NUnit.Framework;
using SvdQuant.Cli.Demo;
using SvdQuant.Generation;
using SvdQuant.Models;
using SvdQuant.Native;
using SvdQuant.Samples.Threading;
using static SvdQuant.Tests.FluxTinyGeneration;

namespace SvdQuant.Tests;

/// <summary>
/// The game-engine threading sample (samples/SvdQuant.Samples.Threading) on flux-tiny and the tiny synthetic
/// pipeline, driven as a game loop drives it: submit, then poll events each "frame". Progress arrives in order,
/// pictures equal a direct run's, cancelling and disposing mid-run end in the cancelled state with the native
/// model destroyed (so no generator outlived the run) and the engine closed.
/// </summary>
public sealed class GenerationWorkerTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    // So many steps that a run lasts far longer than the poll that cancels it after its first step.
    private const int LongRun = 10000; // the most steps the engine takes

    private static GenerationOptions TinyOptions(int steps = 4) => new() { Width = Width, Height = Height, Steps = steps, Seed = 9, Guidance = 2.5f };

    private static FluxPrompt TinyPrompt() => FluxPrompt.FromEmbeddings(Prompt());

    // A game loop: poll every millisecond until `done` holds after an event, collecting the events.
    private static List<WorkerEvent> PollUntil(GenerationWorker worker, Func<WorkerEvent, bool> done, List<WorkerEvent>? events = null)
    {
        events ??= [];
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Timeout)
        {
            while (worker.TryPoll(out WorkerEvent? e))
            {
                events.Add(e!);
                if (done(e!))
                {
                    return events;
                }
            }

            Thread.Sleep(1);
        }

        throw new AssertionException($"no awaited event in {Timeout}; got {string.Join(", ", events.Select(e => e.Kind))}");
    }

    private static bool Finished(WorkerEvent e, GenerationJob job) =>
        e.Job == job && e.Kind is WorkerEventKind.Completed or WorkerEventKind.Cancelled or WorkerEventKind.Failed;

    private static byte[] DirectTransformerPicture(GenerationOptions options)
    {
        using var engine = new Engine();
        using FluxTransformer model = FluxTransformer.Load(engine, Model);
        using FluxGenerator generator = FluxGenerator.Create(model, options);
        return generator.Generate(engine, new GenerationInputs(Prompt())).Preview(upscale: 8).Rgba;
    }

    // The native model's handle while the worker holds it: closed only once the model is destroyed, which a
    // generator still alive (it holds a reference on the model) would prevent.
    private static SvdqFluxHandle ModelHandle(GenerationWorker worker) => ((TransformerSource)worker.Source!).Transformer.Handle;

    private static void AssertEngineClosed(Engine engine) =>
        Assert.Throws<ObjectDisposedException>(() =>
        {
            using EngineCall call = engine.Enter();
        }, "the worker's engine is disposed");

    [Test]
    public void Transformer_ProgressArrivesInOrder_AndThePictureIsADirectRunsPreview()
    {
        using GenerationWorker worker = GenerationWorker.ForTransformer(Model);
        GenerationJob job = worker.Submit(TinyPrompt(), TinyOptions());
        List<WorkerEvent> events = PollUntil(worker, e => Finished(e, job));

        byte[] expected = DirectTransformerPicture(TinyOptions());
        Assert.Multiple(() =>
        {
            Assert.That(events.Select(e => e.Kind), Is.EqualTo(new[]
            {
                WorkerEventKind.Loaded, WorkerEventKind.Started, WorkerEventKind.Progress, WorkerEventKind.Progress,
                WorkerEventKind.Progress, WorkerEventKind.Progress, WorkerEventKind.Completed,
            }));
            var steps = events.Where(e => e.Kind == WorkerEventKind.Progress).Select(e => e.Progress).ToList();
            Assert.That(steps.Select(p => (p.Step, p.Total)), Is.EqualTo(new[] { (1, 4), (2, 4), (3, 4), (4, 4) }));
            Assert.That(steps.Select(p => p.Sigma), Is.Ordered.Descending, "sigmas fall step by step");
            Assert.That(steps.Last().Sigma, Is.Zero);
            Assert.That(events.Skip(1).Select(e => e.Job), Is.All.SameAs(job));
            Assert.That(job.State, Is.EqualTo(JobState.Completed));
            Assert.That((job.Image!.Width, job.Image.Height), Is.EqualTo((Width, Height)));
            Assert.That(job.Image.Rgba, Is.EqualTo(expected), "bit for bit the direct FluxGenerator run's preview");
            Assert.That(expected.Distinct().Count(), Is.GreaterThan(50), "a picture, not a constant");
        });
    }

    [Test]
    public void Pipeline_PictureIsADirectFluxPipelineRuns()
    {
        string folder = SyntheticPipeline.Cached(SyntheticPipelineConfig.Tiny);
        var options = new GenerationOptions { Width = 64, Height = 64, Steps = 2, Seed = 4 };
        using GenerationWorker worker = GenerationWorker.ForPipeline(folder);
        GenerationJob job = worker.Submit("a cat", options);
        List<WorkerEvent> events = PollUntil(worker, e => Finished(e, job));

        using var engine = new Engine();
        using FluxPipeline pipeline = FluxPipeline.Load(engine, folder);
        byte[] expected = pipeline.Generate("a cat", options).Image.Rgba;
        Assert.Multiple(() =>
        {
            Assert.That(job.State, Is.EqualTo(JobState.Completed), job.Error?.ToString());
            Assert.That(events.Where(e => e.Kind == WorkerEventKind.Progress).Select(e => e.Progress.Step), Is.EqualTo(new[] { 1, 2 }));
            Assert.That(job.Image!.Rgba, Is.EqualTo(expected), "bit for bit the direct FluxPipeline run's picture");
            Assert.That(expected.Distinct().Count(), Is.GreaterThan(50), "a picture, not a constant");
        });
    }

    [Test]
    public void CancelMidRun_EndsCancelled_TheWorkerRunsAgain_AndDisposalDestroysTheModel()
    {
        var worker = GenerationWorker.ForTransformer(Model);
        GenerationJob job = worker.Submit(TinyPrompt(), TinyOptions(LongRun));
        List<WorkerEvent> events = PollUntil(worker, e => e.Kind == WorkerEventKind.Progress);
        job.Cancel();
        PollUntil(worker, e => Finished(e, job), events);

        var steps = events.Where(e => e.Kind == WorkerEventKind.Progress).Select(e => e.Progress.Step).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(job.State, Is.EqualTo(JobState.Cancelled));
            Assert.That(events.Last().Kind, Is.EqualTo(WorkerEventKind.Cancelled));
            Assert.That(job.Image, Is.Null);
            Assert.That(steps, Is.EqualTo(Enumerable.Range(1, steps.Count)), "steps in order, none lost");
            Assert.That(steps.Count, Is.LessThan(LongRun), "stopped mid-run");
        });

        // The engine is free again (a run left busy would refuse the next call) and gives the direct run's picture.
        GenerationJob again = worker.Submit(TinyPrompt(), TinyOptions());
        PollUntil(worker, e => Finished(e, again));
        Assert.That(again.Image?.Rgba, Is.EqualTo(DirectTransformerPicture(TinyOptions())), again.Error?.ToString());

        SvdqFluxHandle model = ModelHandle(worker);
        Engine engine = worker.Engine!;
        worker.Dispose();
        Assert.That(model.IsClosed, Is.True, "the native model is destroyed: no generator of the cancelled run holds it");
        AssertEngineClosed(engine);
    }

    [Test]
    public void DisposeWhileRunning_CancelsTheRunningAndQueuedJobs_WaitsAndFreesEverything()
    {
        var worker = GenerationWorker.ForTransformer(Model);
        GenerationJob running = worker.Submit(TinyPrompt(), TinyOptions(LongRun));
        GenerationJob queued = worker.Submit(TinyPrompt(), TinyOptions());
        List<WorkerEvent> events = PollUntil(worker, e => e.Kind == WorkerEventKind.Progress);
        SvdqFluxHandle model = ModelHandle(worker);
        Engine engine = worker.Engine!;

        worker.Dispose();

        Assert.Multiple(() =>
        {
            Assert.That(running.State, Is.EqualTo(JobState.Cancelled));
            Assert.That(queued.State, Is.EqualTo(JobState.Cancelled));
            Assert.That(model.IsClosed, Is.True, "the native model is destroyed");
            Assert.Throws<ObjectDisposedException>(() => worker.Submit(TinyPrompt(), TinyOptions()));
            Assert.DoesNotThrow(worker.Dispose, "a second Dispose does nothing");
        });
        AssertEngineClosed(engine);

        // Events queued before and during the disposal are still read, in order, and end with both cancellations.
        while (worker.TryPoll(out WorkerEvent? e))
        {
            events.Add(e!);
        }

        Assert.That(events.Where(e => e.Kind is WorkerEventKind.Cancelled).Select(e => e.Job), Is.EqualTo(new[] { running, queued }));
        Assert.That(events.SkipWhile(e => e.Kind != WorkerEventKind.Cancelled).Select(e => e.Kind), Is.All.EqualTo(WorkerEventKind.Cancelled),
            "no step reported after the cancellation");
        Assert.That(events.Where(e => e.Job == queued).Select(e => e.Kind), Is.EqualTo(new[] { WorkerEventKind.Cancelled }), "the queued job never started");
    }

    [Test]
    public void ALoadFailure_IsReported_AndEveryJobFailsNamingIt()
    {
        string missing = Path.Combine(Path.GetTempPath(), "svdq-no-such-model-" + Guid.NewGuid().ToString("N"));
        using GenerationWorker worker = GenerationWorker.ForTransformer(missing);
        GenerationJob job = worker.Submit(TinyPrompt(), TinyOptions());
        List<WorkerEvent> events = PollUntil(worker, e => Finished(e, job));

        Assert.Multiple(() =>
        {
            Assert.That(events.Select(e => e.Kind), Is.EqualTo(new[] { WorkerEventKind.LoadFailed, WorkerEventKind.Failed }));
            Assert.That(events[0].Error, Is.InstanceOf<SvdQuantException>().With.Message.Contain(missing));
            Assert.That(job.State, Is.EqualTo(JobState.Failed));
            Assert.That(job.Error!.InnerException, Is.SameAs(events[0].Error));
            Assert.That(worker.IsLoaded, Is.False);
        });
    }

    [Test]
    public void BottomRowFirst_ReversesTheRows_KeepingEachRowsPixels()
    {
        // 3 x 2 pixels, every byte distinct: row 0 = 0..11, row 1 = 12..23.
        var image = new RgbaImage(3, 2, Enumerable.Range(0, 24).Select(i => (byte)i).ToArray());
        Assert.That(TexturePixels.BottomRowFirst(image), Is.EqualTo(Enumerable.Range(12, 12).Concat(Enumerable.Range(0, 12)).Select(i => (byte)i)));
    }
}
