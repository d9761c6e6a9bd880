using System;
using System.Collections.Generic;
using System.IO;
using Google.Protobuf;

namespace SvdQuant.Tokenization;

/// <summary>
/// The parts of a SentencePiece model file (<c>spiece.model</c>, a protobuf ModelProto of
/// sentencepiece_model.proto, decoded with Google.Protobuf) that encoding needs: the pieces with
/// scores and types, the special ids and the normalizer. Read here because Microsoft.ML.Tokenizers
/// 3.0.0's own reader indexes its vocabulary with <c>bos_id</c>, which T5's model sets to -1 (no
/// start token), and fails.
/// </summary>
internal sealed class SentencePieceModelFile
{
    // ModelProto.SentencePiece.Type
    public const int NormalPiece = 1;
    public const int UnknownPiece = 2;
    public const int ControlPiece = 3;

    private SentencePieceModelFile(string path)
    {
        Path = path;
    }

    public string Path { get; }

    public List<(string Piece, float Score, int Type)> Pieces { get; } = new();

    public int UnknownId { get; private set; }  // trainer_spec defaults: unk 0, eos 2, pad -1

    public int EndId { get; private set; } = 2;

    public int PadId { get; private set; } = -1;

    public bool ByteFallback { get; private set; }

    public bool TreatWhitespaceAsSuffix { get; private set; }

    public byte[] PrecompiledCharsMap { get; private set; } = Array.Empty<byte>();

    public bool AddDummyPrefix { get; private set; } = true;

    public bool RemoveExtraWhitespaces { get; private set; } = true;

    public bool EscapeWhitespaces { get; private set; } = true;

    /// <exception cref="SvdQuantException">The file is not a ModelProto or its ids are out of range
    /// (<see cref="StatusCode.Format"/>), named.</exception>
    public static SentencePieceModelFile Read(string path)
    {
        var model = new SentencePieceModelFile(path);
        try
        {
            ForEachField(new CodedInputStream(File.ReadAllBytes(path)), (field, input) =>
            {
                switch (field)
                {
                    case 1: model.Pieces.Add(ReadPiece(input)); return true;
                    case 2: ForEachNestedField(input, model.ReadTrainerSpecField); return true;
                    case 3: ForEachNestedField(input, model.ReadNormalizerSpecField); return true;
                    default: return false;
                }
            });
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new SvdQuantException(StatusCode.Format, $"{path} is not a SentencePiece model: {e.Message}");
        }

        model.RequireId(model.UnknownId, "unk_id");
        model.RequireId(model.EndId, "eos_id");
        if (model.PadId >= 0)
        {
            model.RequireId(model.PadId, "pad_id");
        }

        return model;
    }

    // Calls read(field number, input) for every field of the input's message; read reads the
    // field's value, or returns false to have it skipped.
    private static void ForEachField(CodedInputStream input, Func<int, CodedInputStream, bool> read)
    {
        for (uint tag; (tag = input.ReadTag()) != 0;)
        {
            if (!read(WireFormat.GetTagFieldNumber(tag), input))
            {
                input.SkipLastField();
            }
        }
    }

    // The same over the message in the length-delimited field just tagged.
    private static void ForEachNestedField(CodedInputStream input, Func<int, CodedInputStream, bool> read) =>
        ForEachField(input.ReadBytes().CreateCodedInput(), read);

    private static (string Piece, float Score, int Type) ReadPiece(CodedInputStream input)
    {
        (string Piece, float Score, int Type) piece = (string.Empty, 0, NormalPiece);
        ForEachNestedField(input, (field, fields) =>
        {
            switch (field)
            {
                case 1: piece.Piece = fields.ReadString(); return true;
                case 2: piece.Score = fields.ReadFloat(); return true;
                case 3: piece.Type = fields.ReadEnum(); return true;
                default: return false;
            }
        });
        return piece;
    }

    private bool ReadTrainerSpecField(int field, CodedInputStream input)
    {
        switch (field)
        {
            case 24: TreatWhitespaceAsSuffix = input.ReadBool(); return true;
            case 35: ByteFallback = input.ReadBool(); return true;
            case 40: UnknownId = input.ReadInt32(); return true;
            case 42: EndId = input.ReadInt32(); return true;
            case 43: PadId = input.ReadInt32(); return true;
            default: return false;
        }
    }

    private bool ReadNormalizerSpecField(int field, CodedInputStream input)
    {
        switch (field)
        {
            case 2: PrecompiledCharsMap = input.ReadBytes().ToByteArray(); return true;
            case 3: AddDummyPrefix = input.ReadBool(); return true;
            case 4: RemoveExtraWhitespaces = input.ReadBool(); return true;
            case 5: EscapeWhitespaces = input.ReadBool(); return true;
            default: return false;
        }
    }

    private void RequireId(int id, string name)
    {
        if (id < 0 || id >= Pieces.Count)
        {
            throw new SvdQuantException(StatusCode.Format, $"{Path}: {name} {id} is not one of its {Pieces.Count} pieces.");
        }
    }
}
