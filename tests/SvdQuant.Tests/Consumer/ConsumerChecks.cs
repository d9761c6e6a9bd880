// The code a package consumer runs (PackageSmokeTests copies this file into a netstandard2.1 class
// library that net8.0 and net10.0 apps call); the test runs it in-process too and compares the lines.
// C# 8, as a netstandard2.1 library compiles by default.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using SvdQuant;
using SvdQuant.Generation;
using SvdQuant.Models;

namespace SvdQuant.Consumer
{
    public static class ConsumerChecks
    {
        /// <summary>A layer forward, a FLUX forward and a generation with progress on flux-tiny in <paramref name="fluxTiny"/>; one line each.</summary>
        public static string Run(string fluxTiny)
        {
            var lines = new StringBuilder();
            using (var engine = new Engine())
            {
                lines.AppendLine("engine " + Engine.Version);
                lines.AppendLine("layer " + Format(Sum(LayerForward(engine))));
                using (FluxTransformer flux = FluxTransformer.Load(engine, fluxTiny))
                {
                    lines.AppendLine("flux " + Format(Sum(FluxForward(engine, flux))));
                    var steps = new List<string>();
                    using (FluxGenerator generator = FluxGenerator.Create(flux, new GenerationOptions
                           { Width = 64, Height = 48, Sigmas = new[] { 1f, 0.5f }, Shift = 1f, Guidance = 2.5f }))
                    {
                        var inputs = new GenerationInputs(Prompt()) { Noise = Pattern(12 * 16, 1f, 1.3f) };
                        GenerationResult result = generator.Generate(engine, inputs, new Reporter(p => steps.Add(p.Step + "/" + p.Total)));
                        lines.AppendLine("progress " + string.Join(" ", steps));
                        lines.AppendLine("generation " + Format(Sum(result.Latents)));
                    }
                }
            }

            return lines.ToString();
        }

        private static float[] LayerForward(Engine engine)
        {
            var weight = new float[8, 64];
            var x = new float[2, 64];
            for (int i = 0; i < 8 * 64; i++) weight[i / 64, i % 64] = (float)Math.Sin(i);
            for (int i = 0; i < 2 * 64; i++) x[i / 64, i % 64] = (float)Math.Cos(i);
            using (LinearLayer layer = LinearLayer.Create(engine, LinearScheme.W4A4, weight))
            {
                float[,] y = layer.Forward(engine, x);
                var values = new float[y.Length];
                Buffer.BlockCopy(y, 0, values, 0, values.Length * sizeof(float));
                return values;
            }
        }

        // flux-tiny: 12 image tokens of 16 features, 5 text tokens of 32, pooled 24, guidance embedded.
        private static float[] FluxForward(Engine engine, FluxTransformer flux)
        {
            TextConditioning prompt = Prompt();
            var imageIds = new float[12 * 3];
            for (int t = 0; t < 12; t++)
            {
                imageIds[3 * t + 1] = t / 4;
                imageIds[3 * t + 2] = t % 4;
            }

            return flux.Forward(engine, new FluxInputs
            {
                Batch = 1, ImageTokens = 12, TextTokens = 5, HiddenStates = Pattern(12 * 16, 1f, 0.3f),
                EncoderHiddenStates = prompt.EncoderHiddenStates, PooledProjections = prompt.PooledProjections,
                Timestep = new[] { 0.6f }, Guidance = new[] { 2.5f }, ImageIds = imageIds, TextIds = new float[5 * 3],
            });
        }

        private static TextConditioning Prompt() => new TextConditioning(Pattern(5 * 32, 1f, 0.1f), 5, Pattern(24, 1f, 0.7f));

        private static float[] Pattern(int count, float scale, float phase)
        {
            var values = new float[count];
            for (int i = 0; i < count; i++) values[i] = scale * (float)Math.Sin(0.37f * i + phase);
            return values;
        }

        private static double Sum(float[] values)
        {
            double sum = 0;
            foreach (float v in values) sum += v;
            return sum;
        }

        private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);

        private sealed class Reporter : IProgress<GenerationProgress>
        {
            private readonly Action<GenerationProgress> _report;

            public Reporter(Action<GenerationProgress> report) => _report = report;

            public void Report(GenerationProgress value) => _report(value);
        }
    }
}
