using System;
using System.Collections.Generic;
using System.IO;
using System.Reflection;
using System.Threading;
using SvdQuant;
using SvdQuant.Formats;
using SvdQuant.Generation;
using SvdQuant.Models;
using SvdQuant.Quantization;
using SvdQuant.Tokenization;

/// <summary>
/// The netstandard2.1 assembly under Mono, as Unity's Mono runs it: compiled by mcs, the native engine found by plain
/// DllImport lookup beside this program. Prints one line per check and "mono: N passed, N failed"; exits 1 on a failure.
/// </summary>
internal static class MonoCheck
{
    private static int _passed, _failed, _skipped;

    private static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "--missing-native")
        {
            return MissingNativeChild();
        }

        string fluxTiny = args.Length > 0 ? args[0] : Path.Combine(AppDomain.CurrentDomain.BaseDirectory, "flux-tiny");
        Console.WriteLine("runtime: " + RuntimeDescription() + ", engine " + Engine.Version);
        var logs = new List<string>();
        using (var engine = new Engine(new EngineOptions { LogLevel = LogLevel.Debug, Log = (level, message) => { lock (logs) logs.Add(level + ": " + message); } }))
        {
            Check("engine with a log callback", () =>
            {
                Require(logs.Count > 0, "no log line arrived at LogLevel.Debug");
                Console.WriteLine("  " + logs.Count + " lines, the first: " + logs[0]);
            });
            Check("float layer forward equals x W^T + b", () => LayerForward(engine));
            Check("Quantizer.Quantize (SVDQuant INT4) close to the float layer", () => Quantize(engine));
            Check("flux-tiny forward equals diffusers' output", () => FluxForward(engine, fluxTiny));
            Check("FluxGenerator with progress and cancellation", () => Generate(engine, fluxTiny));
            Check("safetensors write and read back", SafeTensorsRoundTrip);
            Check("bad input raises SvdQuantException with its message", () => BadInput(engine));
        }

        Check("no native library: DllNotFoundException naming it", MissingNative);
        Check("CLIP tokenizer (Microsoft.ML.Tokenizers, System.Text.Json)", ClipTokens);
        Check("link check: every member SvdQuant.Interop.dll references resolves", LinkCheckProduct);
        ReportDependencies();
        Console.WriteLine("mono: " + _passed + " passed, " + _failed + " failed, " + _skipped + " skipped");
        return _failed == 0 ? 0 : 1;
    }

    private static void Check(string name, Action check)
    {
        try
        {
            check();
            _passed++;
            Console.WriteLine("PASS " + name);
        }
        catch (Exception e) when (InDependencyOnDebianMono(e))
        {
            _skipped++;
            Console.WriteLine("SKIP " + name + ": a dependency calls a member Debian's Mono lacks (see ReportDependencies): " + Innermost(e).Message);
        }
        catch (Exception e)
        {
            _failed++;
            Console.WriteLine("FAIL " + name + ": " + e);
        }
    }

    /// <summary>
    /// Debian builds Mono's corlib with mcs, which gives <c>ref readonly</c> returns (ReadOnlySpan indexer,
    /// GetPinnableReference) no modreq(InAttribute); code compiled by Roslyn against netstandard calls them with it, and
    /// Mono does not find them. The product avoids them (the link check proves it); the netstandard2.0 dependencies
    /// System.Text.Json, Microsoft.ML.Tokenizers and Google.Protobuf do not, so their failure is this runtime's, not
    /// the product's: skipped when the missing member is such a one and is called from outside SvdQuant.
    /// </summary>
    private static bool InDependencyOnDebianMono(Exception e)
    {
        Exception inner = Innermost(e);
        return inner is MissingMethodException && inner.Message.Contains("modreq(System.Runtime.InteropServices.InAttribute)")
            && RuntimeDescription().Contains("Debian") && inner.TargetSite != null && inner.TargetSite.DeclaringType != null
            && !inner.TargetSite.DeclaringType.FullName.StartsWith("SvdQuant.", StringComparison.Ordinal);
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException != null)
        {
            e = e.InnerException;
        }

        return e;
    }

    /// <summary>The link check over the dependencies, for information: what this runtime lacks that they call.</summary>
    private static void ReportDependencies()
    {
        foreach (string name in new[] { "CommunityToolkit.HighPerformance", "Microsoft.ML.Tokenizers", "System.Text.Json", "Google.Protobuf", "StbImageSharp", "StbImageWriteSharp" })
        {
            int resolved;
            List<string> failures = LinkCheck.Unresolved(Assembly.Load(name), out resolved);
            Console.WriteLine("info: " + name + ": " + resolved + " member references resolved, " + failures.Count + " did not");
        }
    }

    private static void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new Exception(message);
        }
    }

    private static string RuntimeDescription()
    {
        Type mono = Type.GetType("Mono.Runtime");
        MethodInfo display = mono == null ? null : mono.GetMethod("GetDisplayName", BindingFlags.NonPublic | BindingFlags.Static);
        Require(display != null, "not running on Mono");
        return "Mono " + display.Invoke(null, null);
    }

    /// <summary>scale * sin(0.37 i + phase): smooth, signed, deterministic values (as the NUnit tests use).</summary>
    private static float[] Pattern(int count, float scale, float phase)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = scale * (float)Math.Sin(0.37 * i + phase);
        }

        return values;
    }

    private static float[,] Matrix(int rows, int columns, float scale, float phase)
    {
        float[] flat = Pattern(rows * columns, scale, phase);
        var m = new float[rows, columns];
        Buffer.BlockCopy(flat, 0, m, 0, flat.Length * sizeof(float));
        return m;
    }

    /// <summary>y = x W^T + b in float64.</summary>
    private static double[,] Reference(float[,] x, float[,] w, float[] b)
    {
        int m = x.GetLength(0), n = w.GetLength(0), k = x.GetLength(1);
        var y = new double[m, n];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double sum = b[j];
                for (int t = 0; t < k; t++)
                {
                    sum += (double)x[i, t] * w[j, t];
                }

                y[i, j] = sum;
            }
        }

        return y;
    }

    /// <summary>||actual - expected|| / ||expected|| (Frobenius).</summary>
    private static double RelativeError(float[,] actual, double[,] expected)
    {
        double diff = 0, norm = 0;
        for (int i = 0; i < expected.GetLength(0); i++)
        {
            for (int j = 0; j < expected.GetLength(1); j++)
            {
                double d = actual[i, j] - expected[i, j];
                diff += d * d;
                norm += expected[i, j] * expected[i, j];
            }
        }

        return Math.Sqrt(diff / norm);
    }

    private static void LayerForward(Engine engine)
    {
        float[,] w = Matrix(48, 128, 0.1f, 0.3f);
        float[] b = Pattern(48, 2f, 1.1f); // a bias that matters: about the size of x W^T
        float[,] x = Matrix(5, 128, 1f, 0.9f);
        using (LinearLayer layer = LinearLayer.Create(engine, LinearScheme.Float, w, b))
        {
            double error = RelativeError(layer.Forward(engine, x), Reference(x, w, b));
            // float32 accumulation: measured 1.6e-7; a dropped bias gives 0.29.
            Console.WriteLine("  float layer: relative error " + error.ToString("e2") + " (bound 1e-6)");
            Require(error < 1e-6, "relative error " + error);
        }
    }

    private static void Quantize(Engine engine)
    {
        float[,] w = Matrix(64, 128, 0.1f, 0.2f);
        float[] b = Pattern(64, 2f, 0.4f);
        float[,] x = Matrix(32, 128, 1f, 0.5f);
        using (QuantizedLayers quantized = Quantizer.Quantize(engine, x, w, b, new QuantizerOptions { Rank = 16 }))
        {
            double error = RelativeError(quantized.Layers[0].Forward(engine, x), Reference(x, w, b));
            // Measured 1.41e-3 (these sine weights are nearly low-rank, so the rank-16 branch carries most of W);
            // bounded above at 2e-3 and below at 1e-5, so a float copy does not pass as a 4-bit layer.
            Console.WriteLine("  SVDQuant INT4 rank 16: relative error " + error.ToString("e2") + " (bounds 1e-5 .. 2e-3)");
            Require(error > 1e-5 && error < 2e-3, "relative error " + error + ": not a 4-bit layer close to the float one");
            Require(quantized.Branches[0] != null && quantized.Smooth.Length == 128, "no branch or smoothing");
        }
    }

    private static void FluxForward(Engine engine, string folder)
    {
        using (FluxTransformer model = FluxTransformer.Load(engine, folder))
        using (SafeTensorsFile inputs = SafeTensorsFile.Open(Path.Combine(folder, "inputs.safetensors")))
        using (SafeTensorsFile expectedFile = SafeTensorsFile.Open(Path.Combine(folder, "expected.safetensors")))
        {
            float[] output = model.Forward(engine, new FluxInputs
            {
                Batch = 2, ImageTokens = 16, TextTokens = 8,
                HiddenStates = inputs.ReadFloats("hidden_states"),
                EncoderHiddenStates = inputs.ReadFloats("encoder_hidden_states"),
                PooledProjections = inputs.ReadFloats("pooled_projections"),
                Timestep = inputs.ReadFloats("timestep"),
                Guidance = inputs.ReadFloats("guidance"),
                ImageIds = inputs.ReadFloats("img_ids"),
                TextIds = inputs.ReadFloats("txt_ids"),
            });
            float[] expected = expectedFile.ReadFloats("output");
            Require(output.Length == expected.Length, "output has " + output.Length + " values, expected " + expected.Length);
            double maxDiff = 0, maxExpected = 0;
            for (int i = 0; i < output.Length; i++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(output[i] - (double)expected[i]));
                maxExpected = Math.Max(maxExpected, Math.Abs((double)expected[i]));
            }

            // The flux-tiny README's bound (a correct float32 implementation lands near 1e-6).
            Console.WriteLine("  max|out - expected| / max|expected| = " + (maxDiff / maxExpected).ToString("e2") + " (bound 1e-4)");
            Require(maxDiff / maxExpected < 1e-4, "error " + maxDiff / maxExpected);
        }
    }

    private sealed class Reporter : IProgress<GenerationProgress>
    {
        private readonly Action<GenerationProgress> _report;

        public Reporter(Action<GenerationProgress> report)
        {
            _report = report;
        }

        public void Report(GenerationProgress value) => _report(value);
    }

    private static void Generate(Engine engine, string folder)
    {
        // flux-tiny: 64 x 48 pixels are 12 packed tokens of 16 features; text 5 tokens of 32, pooled 24.
        var options = new GenerationOptions { Width = 64, Height = 48, Sigmas = new[] { 1f, 0.75f, 0.5f, 0.25f }, Shift = 1f, Guidance = 2.5f };
        Func<GenerationInputs> inputs = () => new GenerationInputs(new TextConditioning(Pattern(5 * 32, 1f, 0.1f), 5, Pattern(24, 1f, 0.7f)))
        {
            Noise = Pattern(12 * 16, 1f, 1.3f),
        };
        using (FluxTransformer model = FluxTransformer.Load(engine, folder))
        using (FluxGenerator generator = FluxGenerator.Create(model, options))
        {
            var steps = new List<string>();
            GenerationResult result = generator.Generate(engine, inputs(), new Reporter(p => steps.Add(p.Step + "/" + p.Total + "@" + p.Sigma)));
            Require(string.Join(" ", steps) == "1/4@0.75 2/4@0.5 3/4@0.25 4/4@0", "progress was " + string.Join(" ", steps));
            Require(result.Steps == 4 && result.Latents.Length == 12 * 16, "steps " + result.Steps + ", latents " + result.Latents.Length);

            // The run is Euler over the transformer: x <- x + (sigma_next - sigma) v, v the forward at timestep sigma.
            float[] x = inputs().Noise;
            float[] schedule = { 1f, 0.75f, 0.5f, 0.25f, 0f };
            for (int i = 0; i + 1 < schedule.Length; i++)
            {
                float[] v = model.Forward(engine, new FluxInputs
                {
                    Batch = 1, ImageTokens = 12, TextTokens = 5, HiddenStates = x,
                    EncoderHiddenStates = Pattern(5 * 32, 1f, 0.1f), PooledProjections = Pattern(24, 1f, 0.7f),
                    Timestep = new[] { schedule[i] }, Guidance = new[] { 2.5f }, ImageIds = ImageIds(), TextIds = new float[5 * 3],
                });
                float dt = schedule[i + 1] - schedule[i];
                for (int j = 0; j < x.Length; j++)
                {
                    x[j] += dt * v[j];
                }
            }

            for (int j = 0; j < x.Length; j++)
            {
                Require(x[j] == result.Latents[j], "latent " + j + " is " + result.Latents[j] + ", Euler over the forward gives " + x[j]);
            }

            using (var cancel = new CancellationTokenSource())
            {
                var seen = new List<int>();
                try
                {
                    generator.Generate(engine, inputs(), new Reporter(p => { seen.Add(p.Step); if (p.Step == 2) cancel.Cancel(); }), cancel.Token);
                    throw new Exception("the cancelled run returned");
                }
                catch (OperationCanceledException e)
                {
                    Require(e.CancellationToken == cancel.Token, "the exception carries another token");
                }

                Require(string.Join(",", seen) == "1,2", "steps seen " + string.Join(",", seen));
            }

            float[] again = generator.Generate(engine, inputs()).Latents;
            for (int j = 0; j < again.Length; j++)
            {
                Require(again[j] == result.Latents[j], "the run after the cancelled one differs at " + j);
            }

            Console.WriteLine("  progress " + string.Join(" ", steps) + "; equal to Euler over the forward bit for bit; cancelled after step 2; rerun exact");
        }
    }

    /// <summary>(0, row, col) for the 3 x 4 patches of 64 x 48 pixels.</summary>
    private static float[] ImageIds()
    {
        var ids = new float[12 * 3];
        for (int row = 0; row < 3; row++)
        {
            for (int col = 0; col < 4; col++)
            {
                ids[(row * 4 + col) * 3 + 1] = row;
                ids[(row * 4 + col) * 3 + 2] = col;
            }
        }

        return ids;
    }

    private static void SafeTensorsRoundTrip()
    {
        string path = Path.Combine(Path.GetTempPath(), "svdq-mono-" + Guid.NewGuid().ToString("N") + ".safetensors");
        float[] values = Pattern(6, 3f, 0.2f);
        try
        {
            using (var writer = new SafeTensorsWriter())
            {
                writer.SetMetadata("made_by", "mono");
                writer.AddTensor("t", new long[] { 2, 3 }, values);
                writer.Save(path);
            }

            using (SafeTensorsFile file = SafeTensorsFile.Open(path))
            {
                TensorInfo info = file.GetTensor("t");
                Require(info.DType == TensorDType.F32 && string.Join(",", info.Shape) == "2,3", "tensor " + info.DType + " [" + string.Join(",", info.Shape) + "]");
                float[] read = file.ReadFloats("t");
                for (int i = 0; i < values.Length; i++)
                {
                    Require(read[i] == values[i], "value " + i + " read back as " + read[i]);
                }

                Require(file.GetData("t").Length == 24, "raw data of " + file.GetData("t").Length + " bytes");
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static void BadInput(Engine engine)
    {
        float[,] w = Matrix(8, 64, 0.1f, 0f);
        try
        {
            LinearLayer.Create(engine, LinearScheme.Float, w, new float[7]).Dispose();
            throw new Exception("a bias of 7 values for 8 outputs was accepted");
        }
        catch (SvdQuantException e)
        {
            Console.WriteLine("  " + e.Status + ": " + e.Message);
            Require(e.Status == StatusCode.ShapeMismatch && e.Message.Contains("bias"), "status " + e.Status + ", message '" + e.Message + "'");
        }
    }

    /// <summary>This program again, in a copy of its folder without libsvdquant.so (a process loads the library once).</summary>
    private static void MissingNative()
    {
        string here = AppDomain.CurrentDomain.BaseDirectory;
        string folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "svdq-mono-nonative-" + Guid.NewGuid().ToString("N"))).FullName;
        try
        {
            foreach (string file in Directory.GetFiles(here))
            {
                if (file.EndsWith(".dll", StringComparison.Ordinal) || file.EndsWith(".exe", StringComparison.Ordinal))
                {
                    File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
                }
            }

            var start = new System.Diagnostics.ProcessStartInfo("mono", "MonoCheck.exe --missing-native")
            {
                WorkingDirectory = folder, UseShellExecute = false, RedirectStandardOutput = true,
            };
            using (var child = System.Diagnostics.Process.Start(start))
            {
                string output = child.StandardOutput.ReadToEnd().Trim();
                child.WaitForExit();
                Console.WriteLine("  " + output);
                Require(child.ExitCode == 0, "the engine without its native library: " + output);
            }
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    private static int MissingNativeChild()
    {
        try
        {
            new Engine().Dispose();
            Console.WriteLine("an engine was created without libsvdquant.so");
            return 1;
        }
        catch (Exception e)
        {
            Console.WriteLine(e.GetType().Name + ": " + e.Message);
            return e is DllNotFoundException && e.Message.Contains("'svdquant' (libsvdquant.so for runtime identifier linux-x64) could not be loaded") ? 0 : 1;
        }
    }

    private static void ClipTokens()
    {
        // The ClipTokenizerTests vocabulary: "a PHOTO of a CAT's !" -> a</w> pho to</w> of</w> a</w> cat</w> 's</w> !</w>.
        string[] symbols =
        {
            "<|startoftext|>", "<|endoftext|>", "!", "'", "a", "c", "f", "h", "o", "p", "s", "t", "\u00c3", "\u00a9",
            "!</w>", "a</w>", "f</w>", "o</w>", "s</w>", "t</w>", "\u00a9</w>",
            "ph", "at</w>", "of</w>", "cat</w>", "pho", "to</w>", "'s</w>",
        };
        string folder = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "svdq-mono-clip-" + Guid.NewGuid().ToString("N"))).FullName;
        try
        {
            var entries = new List<string>();
            for (int i = 0; i < symbols.Length; i++)
            {
                entries.Add("\"" + symbols[i].Replace("\\", "\\\\").Replace("\"", "\\\"") + "\": " + i);
            }

            File.WriteAllText(Path.Combine(folder, "vocab.json"), "{" + string.Join(", ", entries) + "}");
            File.WriteAllLines(Path.Combine(folder, "merges.txt"), new[] { "#version: 0.2", "p h", "a t</w>", "o f</w>", "c at</w>", "ph o", "t o</w>", "' s</w>" });
            TokenizedText text = ClipTokenizer.Load(folder, 12).Encode("  A\tPHOTO of\n a CAT's !  ");
            string ids = string.Join(",", text.Ids);
            Console.WriteLine("  ids " + ids);
            Require(ids == "0,15,25,26,23,15,24,27,14,1,1,1" && text.Length == 10, "ids " + ids + ", length " + text.Length);
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    private static void LinkCheckProduct()
    {
        int resolved;
        List<string> failures = LinkCheck.Unresolved(typeof(Engine).Assembly, out resolved);
        Console.WriteLine("  " + resolved + " member references resolved, " + failures.Count + " did not");
        foreach (string failure in failures)
        {
            Console.WriteLine("    " + failure);
        }

        Require(failures.Count == 0, failures.Count + " references do not resolve under this runtime");
    }
}
