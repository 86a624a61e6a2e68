"""Sign-in endpoints of API.md: register, verify, login, otp/send, otp/verify, me."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from auth2fa import services
from auth2fa.models import ApiToken
from carriers.selectors import membership_of
from core.errors import ApplicationError
from core.middleware import client_ip
from core.throttles import OtpThrottle, RegistrationThrottle, SignInThrottle

FOREIGN = "foreign"


def _required(serializer: serializers.Serializer, names: tuple[str, ...], data: dict) -> None:
    """DRF's own "required" answer for fields that only the carrier's kind makes required."""
    missing = {
        name: [serializer.fields[name].error_messages["required"]]
        for name in names
        if name not in data
    }
    if missing:
        raise serializers.ValidationError(missing)


class CarrierInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["company", "individual", FOREIGN])
    iin_bin = serializers.CharField(
        max_length=12, required=False, help_text="company and individual: the BIN or IIN"
    )
    country = serializers.CharField(
        max_length=2,
        required=False,
        help_text="foreign: the country's ISO 3166-1 alpha-2 code from GET /countries (not KZ)",
    )
    tax_number = serializers.CharField(
        max_length=40,
        required=False,
        help_text=(
            "foreign: the national tax number (RU: INN, KG: INN, UZ: STIR, CN: unified social "
            "credit code)"
        ),
    )
    name = serializers.CharField(max_length=300)

    def validate(self, data):
        foreign = data["kind"] == FOREIGN
        _required(self, ("country", "tax_number") if foreign else ("iin_bin",), data)
        return data


class PersonInput(serializers.Serializer):
    full_name = serializers.CharField(max_length=200)
    iin = serializers.CharField(
        max_length=12, required=False, help_text="required unless the carrier is foreign"
    )
    phone = serializers.CharField(max_length=32)
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, write_only=True)
    language = serializers.ChoiceField(choices=["kk", "ru", "en"], required=False)


class RegisterApi(APIView):
    """A carrier and its owner (A1). A Kazakh carrier gives `iin_bin` and its person `iin`; a
    carrier from abroad (kind `foreign`) gives `country` and `tax_number`, and its person may
    have no `iin`. A carrier from abroad can book once an operator has confirmed it from the
    documents its owner uploads (POST /carrier/documents, A7)."""

    authentication_classes = []
    throttle_classes = [RegistrationThrottle]

    class Input(serializers.Serializer):
        carrier = CarrierInput()
        person = PersonInput()

        def validate(self, data):
            if data["carrier"]["kind"] != FOREIGN:
                try:
                    _required(self.fields["person"], ("iin",), data["person"])
                except serializers.ValidationError as exc:
                    raise serializers.ValidationError({"person": exc.detail}) from exc
            return data

    @extend_schema(
        request=Input,
        responses={
            201: inline_serializer(
                "Registered",
                {
                    "user_id": serializers.IntegerField(),
                    "carrier_id": serializers.IntegerField(),
                    "phone_verification": serializers.CharField(),
                },
            )
        },
    )
    def post(self, request):
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        carrier, person = data.validated_data["carrier"], data.validated_data["person"]
        registration = services.registration_create(
            carrier_kind=carrier["kind"],
            carrier_iin_bin=carrier.get("iin_bin", ""),
            carrier_country=carrier.get("country", ""),
            carrier_tax_number=carrier.get("tax_number", ""),
            carrier_name=carrier["name"],
            full_name=person["full_name"],
            iin=person.get("iin", ""),
            phone=person["phone"],
            email=person["email"],
            password=person["password"],
            language=person.get("language") or request.LANGUAGE_CODE,
        )
        return Response(
            {
                "user_id": registration.user.pk,
                "carrier_id": registration.carrier.pk,
                "phone_verification": "sent",
            },
            status=status.HTTP_201_CREATED,
        )


class RegisterVerifyApi(APIView):
    authentication_classes = []
    throttle_classes = [RegistrationThrottle]

    class Input(serializers.Serializer):
        phone = serializers.CharField(max_length=32)
        code = serializers.RegexField(
            r"^\s*\d{6}\s*$", error_messages={"invalid": _("The code is 6 digits.")}
        )

    @extend_schema(
        request=Input,
        responses=inline_serializer("Verified", {"verified": serializers.BooleanField()}),
    )
    def post(self, request):
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        services.registration_verify(**data.validated_data)
        return Response({"verified": True})


class RegisterResendApi(APIView):
    authentication_classes = []
    throttle_classes = [RegistrationThrottle]

    class Input(serializers.Serializer):
        phone = serializers.CharField(max_length=32)

    @extend_schema(
        request=Input,
        responses={
            202: inline_serializer(
                "RegistrationCodeSent",
                {"sent": serializers.BooleanField(), "retry_after": serializers.IntegerField()},
            )
        },
    )
    def post(self, request):
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        retry_after = services.registration_code_resend(phone=data.validated_data["phone"])
        return Response({"sent": True, "retry_after": retry_after}, status=202)


ChallengeOutput = inline_serializer(
    "SignInChallenge",
    {
        "challenge": serializers.CharField(),
        "factors": serializers.ListField(child=serializers.CharField()),
    },
)


def challenge_response(started: services.SignInStarted) -> Response:
    return Response({"challenge": started.challenge, "factors": started.factors})


class LoginApi(APIView):
    authentication_classes = []
    throttle_classes = [SignInThrottle]

    class Input(serializers.Serializer):
        username = serializers.CharField(max_length=254)
        password = serializers.CharField(max_length=128)

    @extend_schema(request=Input, responses=ChallengeOutput)
    def post(self, request):
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        started = services.sign_in_with_password(**data.validated_data, ip=client_ip(request))
        return challenge_response(started)


class EdsChallengeApi(APIView):
    authentication_classes = []
    throttle_classes = [SignInThrottle]

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "EdsChallenge",
            {"nonce": serializers.CharField(), "expires_at": serializers.DateTimeField()},
        ),
    )
    def post(self, request):
        issued = services.eds_nonce_issue()
        return Response(
            {
                "nonce": issued.nonce,
                "expires_at": serializers.DateTimeField().to_representation(issued.expires_at),
            }
        )


class EdsLoginApi(APIView):
    authentication_classes = []
    throttle_classes = [SignInThrottle]

    class Input(serializers.Serializer):
        nonce = serializers.CharField(max_length=100)
        certificate = serializers.CharField(max_length=65536, required=False, allow_blank=True)
        signature = serializers.CharField(max_length=262144)
        signature_format = serializers.ChoiceField(choices=["raw", "cms"])

    @extend_schema(request=Input, responses=ChallengeOutput)
    def post(self, request):
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        started = services.sign_in_with_eds_signature(
            nonce=data.validated_data["nonce"],
            certificate=data.validated_data.get("certificate", ""),
            signature=data.validated_data["signature"],
            signature_format=data.validated_data["signature_format"],
            ip=client_ip(request),
        )
        return challenge_response(started)


class CarrierConfirmApi(APIView):
    """A7: the owner confirms the carrier by signing a challenge (POST /auth/eds/challenge) with
    an EDS whose certificate carries the carrier's BIN (a company) or IIN (an entrepreneur).
    Until then the carrier cannot book (403 `carrier_unconfirmed`); an unconfirmed registration
    lapses after 24 hours. Errors: `eds_*` (the signature or certificate), `eds_other_carrier`
    (403: not this carrier's number, or not the owner's own certificate), `forbidden` (403: not
    the owner), `registration_lapsed` (409), `already_registered` (409), `confirmed_by_operator`
    (409: a carrier from abroad, which an operator confirms from its documents)."""

    permission_classes = [IsAuthenticated]
    throttle_classes = [SignInThrottle]

    @extend_schema(
        request=EdsLoginApi.Input,
        responses=inline_serializer(
            "CarrierConfirmed",
            {"carrier": serializers.CharField(), "confirmed_at": serializers.DateTimeField()},
        ),
    )
    def post(self, request):
        data = EdsLoginApi.Input(data=request.data)
        data.is_valid(raise_exception=True)
        member = membership_of(request.user)
        if member is None:
            raise ApplicationError("forbidden", _("You do not act for a carrier."), status=403)
        carrier = services.carrier_confirm_with_eds(
            member=member,
            nonce=data.validated_data["nonce"],
            certificate=data.validated_data.get("certificate", ""),
            signature=data.validated_data["signature"],
            signature_format=data.validated_data["signature_format"],
        )
        return Response({"carrier": carrier.iin_bin, "confirmed_at": carrier.confirmed_at})


class OtpSendApi(APIView):
    authentication_classes = []
    throttle_classes = [OtpThrottle]

    class Input(serializers.Serializer):
        challenge = serializers.CharField(max_length=100)
        factor = serializers.CharField(max_length=20)

    @extend_schema(
        request=Input,
        responses={
            202: inline_serializer(
                "CodeSent",
                {"sent": serializers.BooleanField(), "retry_after": serializers.IntegerField()},
            )
        },
    )
    def post(self, request):
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        retry_after = services.sign_in_code_send(**data.validated_data)
        return Response({"sent": True, "retry_after": retry_after}, status=202)


class OtpVerifyApi(APIView):
    authentication_classes = []
    throttle_classes = [OtpThrottle]

    class Input(serializers.Serializer):
        challenge = serializers.CharField(max_length=100)
        factor = serializers.CharField(max_length=20)
        code = serializers.CharField(max_length=20)

    @extend_schema(
        request=Input,
        responses=inline_serializer(
            "SignInToken",
            {"token": serializers.CharField(), "expires_at": serializers.DateTimeField()},
        ),
    )
    def post(self, request):
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        signed_in = services.sign_in_verify(**data.validated_data)
        issued = services.api_token_issue(user=signed_in.user, kind=ApiToken.Kind.SIGN_IN)
        return Response(
            {
                "token": issued.secret,
                "expires_at": serializers.DateTimeField().to_representation(
                    issued.token.expires_at
                ),
            }
        )


def _carrier_output(carrier) -> dict:
    output = {
        "id": carrier.pk,
        "kind": carrier.kind,
        "iin_bin": carrier.iin_bin,
        "name": carrier.name,
        "confirmed": carrier.is_confirmed,
    }
    if carrier.is_foreign:
        output |= {
            "country": carrier.country,
            "tax_number": carrier.tax_number,
            "documents": carrier.documents.count(),
            "refusal_reason": carrier.refusal_reason if carrier.refused_at else None,
        }
    return output


class MeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses=inline_serializer(
            "Me",
            {
                "user": inline_serializer(
                    "MeUser",
                    {
                        "id": serializers.IntegerField(),
                        "full_name": serializers.CharField(),
                        "email": serializers.CharField(),
                        "phone": serializers.CharField(),
                        "language": serializers.CharField(),
                    },
                ),
                "carrier": inline_serializer(
                    "MeCarrier",
                    {
                        "id": serializers.IntegerField(),
                        "kind": serializers.CharField(),
                        "iin_bin": serializers.CharField(),
                        "name": serializers.CharField(),
                        "confirmed": serializers.BooleanField(),
                        # Carriers from abroad only (A7); Kazakh carriers' shape is unchanged.
                        "country": serializers.CharField(required=False),
                        "tax_number": serializers.CharField(required=False),
                        "documents": serializers.IntegerField(
                            required=False, help_text="documents uploaded for the operator"
                        ),
                        "refusal_reason": serializers.CharField(
                            required=False,
                            allow_null=True,
                            help_text="why the operator refused the documents; null if not",
                        ),
                    },
                    allow_null=True,
                ),
                "role": serializers.CharField(allow_null=True),
            },
        )
    )
    def get(self, request):
        user = request.user
        member = membership_of(user)
        return Response(
            {
                "user": {
                    "id": user.pk,
                    "full_name": user.full_name,
                    "email": user.email,
                    "phone": user.phone,
                    "language": user.language,
                },
                "carrier": _carrier_output(member.carrier) if member else None,
                "role": member.role if member else None,
            }
        )
