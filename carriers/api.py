"""The documents of a carrier from abroad (A7), over the API: GET lists them, POST uploads one."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from carriers import services
from carriers.models import CarrierDocument
from carriers.permissions import IsCarrierMember
from carriers.selectors import documents_of


class DocumentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    content_type = serializers.ChoiceField(choices=["application/pdf", "image/jpeg", "image/png"])
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    uploaded_at = serializers.DateTimeField()


class CarrierDocumentsApi(APIView):
    """The registration certificate or trade register extract of a carrier from abroad, which
    an operator confirms it from (A7). POST (multipart/form-data, field `file`): the owner
    uploads one document while the carrier is unconfirmed: PDF, JPEG or PNG by its content (the
    name's ending must agree), at most 5 MB, at most 5 documents. Errors: `validation_error`
    (400: empty, not PDF/JPEG/PNG, or a name that disagrees), `document_too_large` (413),
    `too_many_documents` (409), `forbidden` (403: not the owner), `documents_not_accepted` (409:
    a Kazakh carrier, confirmed by EDS), `carrier_confirmed` (409), `registration_lapsed` (409).
    GET: every member of the carrier sees which documents there are (not their content)."""

    permission_classes = [IsAuthenticated, IsCarrierMember]
    parser_classes = [MultiPartParser]

    class Input(serializers.Serializer):
        file = serializers.FileField(allow_empty_file=True)

    @extend_schema(responses=DocumentOutput(many=True))
    def get(self, request):
        return Response(DocumentOutput(documents_of(request.member.carrier), many=True).data)

    @extend_schema(
        request={"multipart/form-data": Input},
        responses={201: DocumentOutput},
    )
    def post(self, request):
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        if upload.size > CarrierDocument.MAX_BYTES:
            raise services.document_too_large()  # unread
        document = services.carrier_document_upload(
            member=request.member, name=upload.name or "", content=upload.read()
        )
        return Response(DocumentOutput(document).data, status=status.HTTP_201_CREATED)
