using System;
using System.Collections.Generic;
using NUnit.Framework;
using SvdQuant.Native;

namespace SvdQuant.Tests;

/// <summary>Engine setup, identity and logging.</summary>
public sealed class EngineTests
{
    [Test]
    public void Version_IsMajorMinorPatch() => Assert.That(Engine.Version, Does.Match(@"^\d+\.\d+\.\d+"));

    [Test]
    public void AbiVersion_IsTheOneTheBindingsWereGeneratedFor() =>
        Assert.That(Engine.AbiVersion, Is.EqualTo((int)svdq_constants.SVDQ_ABI_VERSION));

    [Test]
    public void Info_ReportsTheThreadsAskedForAndTheLevelInUse()
    {
        using var engine = new Engine(new EngineOptions { Threads = 1 });

        Assert.Multiple(() =>
        {
            Assert.That(engine.Backend, Is.EqualTo(Backend.Cpu));
            Assert.That(engine.ThreadCount, Is.EqualTo(1));
            Assert.That(engine.CpuLevel, Is.Not.EqualTo(CpuLevel.Auto));
        });
    }

    [Test]
    public void DefaultThreads_IsAtLeastOne()
    {
        using var engine = new Engine();

        Assert.That(engine.ThreadCount, Is.GreaterThanOrEqualTo(1));
    }

    [Test]
    public void CpuLevelCap_IsHonoured()
    {
        using var engine = new Engine(new EngineOptions { CpuLevel = CpuLevel.Scalar });

        Assert.That(engine.CpuLevel, Is.EqualTo(CpuLevel.Scalar));
    }

    [Test]
    public void LogCallback_ReceivesTheStartupMessage()
    {
        var messages = new List<(LogLevel Level, string Text)>();

        using var engine = new Engine(new EngineOptions { Threads = 1, LogLevel = LogLevel.Info, Log = (l, m) => messages.Add((l, m)) });

        Assert.That(messages, Has.Some.Matches<(LogLevel Level, string Text)>(
            m => m.Level == LogLevel.Info && m.Text.Contains("1 threads", StringComparison.Ordinal)));
    }

    /// <summary>
    /// The engine logs its configuration at Info as it starts: that message must arrive when the
    /// level lets it through (Debug, Info) and must not when it is less severe than the level (Warning, Error).
    /// </summary>
    [Test]
    public void LogLevel_FiltersLessSevereMessages()
    {
        static List<LogLevel> Received(LogLevel threshold)
        {
            var levels = new List<LogLevel>();
            using var engine = new Engine(new EngineOptions { Threads = 1, LogLevel = threshold, Log = (l, _) => levels.Add(l) });
            return levels;
        }

        Assert.Multiple(() =>
        {
            Assert.That(Received(LogLevel.Debug), Does.Contain(LogLevel.Info));
            Assert.That(Received(LogLevel.Info), Does.Contain(LogLevel.Info).And.All.GreaterThanOrEqualTo(LogLevel.Info));
            Assert.That(Received(LogLevel.Warning), Is.Empty, "the Info message is filtered");
            Assert.That(Received(LogLevel.Error), Is.Empty, "the Info message is filtered");
        });
    }

    [Test]
    public void LogCallback_ThatThrows_DoesNotHurtTheEngine()
    {
        int calls = 0;
        void Throwing(LogLevel level, string message)
        {
            calls++;
            throw new InvalidOperationException("a broken logger");
        }

        using var engine = new Engine(new EngineOptions { LogLevel = LogLevel.Debug, Log = Throwing });
        using var layer = Models.LinearLayer.Create(engine, Models.LinearScheme.Float, new float[2, 3]);

        Assert.That(calls, Is.GreaterThan(0));
        Assert.That(layer.Forward(engine, new float[1, 3]), Is.EqualTo(new float[1, 2]));
    }

    [Test]
    public void NativeLibraryPath_CannotChangeOnceLoaded()
    {
        using var engine = new Engine();

        Assert.Throws<InvalidOperationException>(() => Engine.NativeLibraryPath = "/elsewhere/libsvdquant.so");
    }
}
